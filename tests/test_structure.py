"""The package layout shows the architecture: no import cycles, small modules, privacy kept."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = {
    "rlhf_otel": ROOT / "rlhf_otel",
    "rlhf_otel_instrumentation": ROOT / "instrumentation/openai/src/rlhf_otel_instrumentation",
}
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for top, base in SOURCES.items():
        for path in base.rglob("*.py"):
            parts = [top, *path.relative_to(base).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _imports(name: str, *, module_level_only: bool) -> Iterator[tuple[str, int]]:
    """(imported module, line) for each import in ``name``; names imported from a package
    count as that package's submodule when one exists."""
    tree = ast.parse(MODULES[name].read_text())
    package = name if _is_package(name) else name.rpartition(".")[0]

    def walk(nodes: list[ast.stmt]) -> Iterator[ast.stmt]:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            yield node
            if not module_level_only:
                for child in ast.walk(node):
                    if child is not node and isinstance(child, (ast.Import, ast.ImportFrom)):
                        yield child
            elif isinstance(node, (ast.If, ast.Try)):
                yield from walk(node.body)

    for node in walk(tree.body):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in MODULES:
                    yield sub, node.lineno
                elif base in MODULES:
                    yield base, node.lineno


def test_no_import_cycles() -> None:
    """No module reaches itself through module-level imports."""
    graph = {m: {d for d, _ in _imports(m, module_level_only=True)} - {m} for m in MODULES}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep) :], dep] if dep in path else [node, dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for module in sorted(MODULES):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_no_module_is_over_500_lines() -> None:
    """Every module stays small enough to read in one sitting."""
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_no_private_import_across_packages() -> None:
    """A module imports private modules only of its own package or of an ancestor."""
    offences = []
    for module in MODULES:
        own = module if _is_package(module) else module.rpartition(".")[0]
        for target, line in _imports(module, module_level_only=False):
            parts = target.split(".")
            private_at = next((i for i, p in enumerate(parts) if p.startswith("_")), None)
            if private_at is None:
                continue
            owner = ".".join(parts[:private_at])
            if not (own == owner or own.startswith(owner + ".")):
                offences.append(f"{module}:{line} imports {target}")
    assert offences == []

"""The package layout shows the architecture: no import cycles, small modules, privacy kept."""

from __future__ import annotations

import ast
import importlib
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


def _dynamic_target(node: ast.AST) -> str | None:
    """The module an ``importlib.import_module("...")`` or ``__import__("...")`` call names."""
    if not isinstance(node, ast.Call) or not node.args:
        return None
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    arg = node.args[0]
    if called in ("import_module", "__import__") and isinstance(arg, ast.Constant):
        return arg.value if isinstance(arg.value, str) else None
    return None


def _imports(name: str, *, module_level_only: bool) -> Iterator[tuple[str, int]]:
    """(imported module, line) for each import in ``name``; names imported from a package
    count as that package's submodule when one exists. Unless ``module_level_only``,
    imports inside functions and ``importlib`` calls with a literal name count too."""
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

    if not module_level_only:
        for node in ast.walk(tree):
            target = _dynamic_target(node)
            if target is not None and target in MODULES:
                yield target, getattr(node, "lineno", 0)
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


def _private_names(name: str) -> Iterator[tuple[str, int]]:
    """(``module.name``, line) for each private name ``name`` imports from a module of ours
    (reported as ``package._name``: the package that owns a module's private names)."""
    tree = ast.parse(MODULES[name].read_text())
    package = name if _is_package(name) else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join(anchor + ([base] if base else []))
        if base not in MODULES:
            continue
        for alias in node.names:
            private = alias.name.startswith("_") and not alias.name.startswith("__")
            if private and f"{base}.{alias.name}" not in MODULES:
                owner = base if _is_package(base) else base.rpartition(".")[0]
                yield f"{owner}.{alias.name}", node.lineno


def _owner(dotted: str) -> str | None:
    """The package whose private part ``dotted`` reaches (``None``: nothing private)."""
    parts = dotted.split(".")
    private_at = next((i for i, p in enumerate(parts) if p.startswith("_")), None)
    return None if private_at is None else ".".join(parts[:private_at])


def test_no_private_import_across_packages() -> None:
    """A module imports private modules and private names only of its own package or of an
    ancestor, wherever the import is (module level, in a function, through importlib)."""
    offences = []
    for module in MODULES:
        own = module if _is_package(module) else module.rpartition(".")[0]
        reached = [*_imports(module, module_level_only=False), *_private_names(module)]
        for target, line in reached:
            owner = _owner(target)
            if owner is not None and not (own == owner or own.startswith(owner + ".")):
                offences.append(f"{module}:{line} imports {target}")
    assert offences == []


def _package(module: str) -> str:
    """The top-level package a module belongs to (a root module stands for itself)."""
    parts = module.split(".")
    if parts[0] == "rlhf_otel" and len(parts) > 1 and f"rlhf_otel.{parts[1]}" in MODULES:
        candidate = f"rlhf_otel.{parts[1]}"
        if _is_package(candidate):
            return candidate
    return module if parts[0] == "rlhf_otel" else parts[0]


def test_no_package_cycles_through_deferred_imports() -> None:
    """Counting imports inside functions and importlib calls too, no two packages need each
    other."""
    packages: dict[str, set[str]] = {}
    for module in MODULES:
        for dep, _ in _imports(module, module_level_only=False):
            if _package(module) != _package(dep):
                packages.setdefault(_package(module), set()).add(_package(dep))

    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for nxt in packages.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    reachable = {p: reach(p) for p in packages}
    found = {
        frozenset({a, b})
        for a, seen in reachable.items()
        for b in seen
        if a != b and a in reachable.get(b, set())
    }
    assert found == set()


def _public_home(module: str, name: str) -> str | None:
    """The nearest public package above ``module`` that exports ``name`` as the same object."""
    parts = module.split(".")
    first_private = next((i for i, p in enumerate(parts) if p.startswith("_")), len(parts))
    source = importlib.import_module(module)
    for end in range(first_private, 0, -1):
        candidate = ".".join(parts[:end])
        public = importlib.import_module(candidate)
        if name in getattr(public, "__all__", ()) and getattr(public, name) is getattr(
            source, name, None
        ):
            return candidate
    return None


def test_tests_use_public_names() -> None:
    """Tests import a name from a private module only when no public module exports it
    (a test about that module's internals); everything else comes through public names."""
    offences = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if not isinstance(node, ast.ImportFrom) or not node.module or node.level:
                continue
            parts = node.module.split(".")
            if parts[0] != "rlhf_otel" or not any(p.startswith("_") for p in parts[1:]):
                continue
            for alias in node.names:
                home = _public_home(node.module, alias.name)
                if home is not None:
                    where = path.relative_to(ROOT)
                    offences.append(f"{where}:{node.lineno} {alias.name}: use {home}")
    assert offences == []

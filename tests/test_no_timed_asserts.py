"""No test asserts on a wall-clock duration: those fail on a busy machine (benchmarks time)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parent
CLOCKS = frozenset({"monotonic", "perf_counter", "time", "monotonic_ns", "perf_counter_ns"})


def _is_clock_call(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in CLOCKS
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "time"
    )


def _durations(scope: ast.AST) -> Iterator[int]:
    """Lines of asserts on a duration: a clock reading minus a clock reading, directly or
    through local names (``started = time.monotonic()``, ``took = ... - started``)."""
    clocked: set[str] = set()
    durations: set[str] = set()

    def clock(node: ast.AST) -> bool:
        return _is_clock_call(node) or (isinstance(node, ast.Name) and node.id in clocked)

    def duration(node: ast.AST) -> bool:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and sub.id in durations:
                return True
            if (
                isinstance(sub, ast.BinOp)
                and isinstance(sub.op, ast.Sub)
                and clock(sub.left)
                and clock(sub.right)
            ):
                return True
        return False

    for node in ast.walk(scope):
        if isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            if _is_clock_call(node.value):
                clocked.update(names)
            elif duration(node.value):
                durations.update(names)
    for node in ast.walk(scope):
        if isinstance(node, ast.Assert) and duration(node.test):
            yield node.lineno


def _offences(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    scopes = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return {f"{path.relative_to(TESTS)}:{line}" for s in scopes for line in _durations(s)}


def test_no_test_asserts_on_a_duration() -> None:
    """Tests assert counts, events and order; a bounded wait is only a hang guard."""
    offences = sorted(o for path in TESTS.rglob("*.py") for o in _offences(path))
    assert offences == []

"""What ``rlhf-otel sql`` lets run: one query read from DuckDB's own parse tree, on a locked
connection that can open only the store's segment files."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any, Final

__all__ = [
    "ALLOWED_STATEMENTS",
    "ALLOWED_TABLE_FUNCTIONS",
    "lock_down",
    "refused_relations",
    "refused_statement",
]

ALLOWED_STATEMENTS: Final = ("SELECT",)
"""Statement types ``sql`` runs (``WITH``, ``VALUES``, ``TABLE``, ``DESCRIBE``, ``SHOW`` and
``SUMMARIZE`` parse as SELECT); anything else, ``EXPLAIN`` included, is refused."""
ALLOWED_TABLE_FUNCTIONS: Final = frozenset(
    {"range", "generate_series", "unnest", "json_each", "json_tree"}
)
"""Table functions a query may call: they compute rows and touch no file or setting."""
_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_READ_ONLY: Final = "rlhf-otel sql is read-only: it runs one SELECT statement"


def refused_statement(duckdb: Any, query: str) -> str | None:
    """Why ``query`` may not run (one line), or ``None``; DuckDB's parser decides what it is.

    Raises:
        duckdb.Error: the query does not parse.
    """
    statements = duckdb.extract_statements(query)
    if not statements:
        return "SQL: the query is empty"
    if len(statements) > 1:
        return f"{_READ_ONLY}; got {len(statements)} statements"
    kind = statements[0].type.name
    if kind not in ALLOWED_STATEMENTS:
        return f"{_READ_ONLY}; got {kind}"
    tree = _parse_tree(duckdb, query)
    for node in _nodes(tree):
        if node.get("type") != "TABLE_FUNCTION":
            continue
        function = node.get("function") or {}
        name = str(function.get("function_name", "")).lower()
        if name not in ALLOWED_TABLE_FUNCTIONS:
            allowed = ", ".join(sorted(ALLOWED_TABLE_FUNCTIONS))
            return (
                f"rlhf-otel sql is read-only: the table function {name}() is not allowed "
                f"(it may read or write files; allowed: {allowed})"
            )
    return None


def refused_relations(duckdb: Any, query: str, relations: Iterable[str]) -> str | None:
    """Why ``query`` may not run because it names something other than ``relations`` or its
    own CTEs (a file name, say, which DuckDB would read by itself), or ``None``."""
    tree = _parse_tree(duckdb, query)
    known = {r.lower() for r in relations}
    for node in _nodes(tree):
        for entry in (node.get("cte_map") or {}).get("map", ()):
            name = str(entry.get("key", ""))
            # a file name is never taken for a CTE's: out of the CTE's scope DuckDB reads the file
            if _IDENTIFIER.fullmatch(name):
                known.add(name.lower())
    for node in _nodes(tree):
        if node.get("type") != "BASE_TABLE":
            continue
        name = str(node.get("table_name", ""))
        if name.lower() not in known:
            return (
                f"SQL: no view or table named {name!r}; query the views interactions and "
                "feedback (or feedback_versions)"
            )
    return None


def lock_down(con: Any, files: Iterable[str], *, progress: bool) -> None:
    """Allow opening exactly ``files``, no extension, no Python object, no setting change."""
    con.execute("SET allowed_directories = ?", [[]])
    con.execute("SET allowed_paths = ?", [sorted(files)])
    con.execute("SET python_enable_replacements = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    if progress:
        con.execute("SET enable_progress_bar = true")  # DuckDB's own bar, after 2 s
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def _parse_tree(duckdb: Any, query: str) -> object:
    con = duckdb.connect(":memory:")
    try:
        (text,) = con.execute("SELECT json_serialize_sql(?::VARCHAR)", [query]).fetchone()
    finally:
        con.close()
    tree = json.loads(text)
    if tree.get("error"):
        raise duckdb.ParserException(str(tree.get("error_message", "cannot parse the query")))
    return tree


def _nodes(tree: object) -> Iterator[dict[str, Any]]:
    """Every JSON object in the parse tree (iteratively: a deep query cannot overflow)."""
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)

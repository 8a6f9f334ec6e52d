"""MongoDB-style filters, sorts and projections over plain dicts, for the ZeroDB test server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["FilterError", "matches", "project", "sort_rows"]


class FilterError(ValueError):
    """The filter, sort or projection is not valid; the server answers 400."""


_MISSING = object()


def _get(doc: Mapping[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _rank(value: Any) -> int:
    if value is None or value is _MISSING:
        return 0
    if isinstance(value, bool):
        return 3
    if isinstance(value, (int, float)):
        return 1
    if isinstance(value, str):
        return 2
    return 4


def _eq(value: Any, target: Any) -> bool:
    if value is _MISSING:
        return target is None
    if isinstance(value, list) and not isinstance(target, list):
        return any(_eq(v, target) for v in value)
    if isinstance(value, bool) != isinstance(target, bool):
        return False
    return bool(value == target)


def _cmp(value: Any, target: Any, op: str) -> bool:
    if isinstance(value, list):
        return any(_cmp(v, target, op) for v in value)
    if value is _MISSING or value is None or _rank(value) != _rank(target) or _rank(value) > 2:
        return False
    if op == "$gt":
        return bool(value > target)
    if op == "$gte":
        return bool(value >= target)
    if op == "$lt":
        return bool(value < target)
    return bool(value <= target)


_SETS: dict[int, tuple[list[Any], frozenset[Any]]] = {}


def _in(value: Any, arg: list[Any]) -> bool:
    if isinstance(value, str):
        # Membership by set, remembered per filter list, keeps big $in queries linear.
        cached = _SETS.get(id(arg))
        if cached is None or cached[0] is not arg:
            if len(_SETS) > 64:
                _SETS.clear()
            cached = (arg, frozenset(a for a in arg if isinstance(a, str)))
            _SETS[id(arg)] = cached
        return value in cached[1]
    return any(_eq(value, a) for a in arg)


def _cond(value: Any, cond: Any) -> bool:
    if not (isinstance(cond, Mapping) and cond and all(str(k).startswith("$") for k in cond)):
        return _eq(value, cond)
    for op, arg in cond.items():
        if op == "$eq":
            ok = _eq(value, arg)
        elif op == "$ne":
            ok = not _eq(value, arg)
        elif op in ("$gt", "$gte", "$lt", "$lte"):
            ok = _cmp(value, arg, op)
        elif op in ("$in", "$nin"):
            if not isinstance(arg, list):
                raise FilterError(f"{op} needs an array")
            hit = _in(value, arg)
            ok = hit if op == "$in" else not hit
        elif op == "$exists":
            ok = (value is not _MISSING) == bool(arg)
        elif op == "$not":
            ok = not _cond(value, arg)
        else:
            raise FilterError(f"unknown operator {op}")
        if not ok:
            return False
    return True


def matches(doc: Mapping[str, Any], flt: Mapping[str, Any] | None) -> bool:
    """Whether ``doc`` passes ``flt`` (implicit AND of fields; $and/$or/$nor at any level)."""
    if not flt:
        return True
    if not isinstance(flt, Mapping):
        raise FilterError("filter must be an object")
    for key, cond in flt.items():
        if key in ("$and", "$or", "$nor"):
            if not isinstance(cond, list) or not cond:
                raise FilterError(f"{key} needs a non-empty array")
            results = [matches(doc, sub) for sub in cond]
            ok = all(results) if key == "$and" else any(results)
            if not (ok if key != "$nor" else not ok):
                return False
        elif key.startswith("$"):
            raise FilterError(f"unknown top-level operator {key}")
        elif not _cond(_get(doc, key), cond):
            return False
    return True


def sort_rows(rows: list[dict[str, Any]], sort: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """``rows`` sorted by ``{field: 1 | -1, ...}`` (nulls first ascending), stably."""
    out = list(rows)
    if not sort:
        return out
    if not isinstance(sort, Mapping):
        raise FilterError("sort must be an object")
    for key, direction in reversed(list(sort.items())):
        if direction not in (1, -1):
            raise FilterError(f"sort direction of {key} must be 1 or -1")

        def sort_key(row: dict[str, Any], key: str = key) -> tuple[int, Any]:
            v = _get(row, key)
            return (_rank(v), v if _rank(v) in (1, 2) else 0)

        out.sort(key=sort_key, reverse=direction == -1)
    return out


def project(row: dict[str, Any], projection: Mapping[str, Any] | None) -> dict[str, Any]:
    """``row`` with only the included fields (``row_id`` stays unless excluded with 0)."""
    if not projection:
        return dict(row)
    if not isinstance(projection, Mapping):
        raise FilterError("projection must be an object")
    include = [k for k, v in projection.items() if v]
    exclude = {k for k, v in projection.items() if not v}
    if include:
        keep = {k: row[k] for k in include if k in row}
        if "row_id" not in exclude and "_id" not in exclude and "row_id" in row:
            keep["row_id"] = row["row_id"]
        return keep
    return {k: v for k, v in row.items() if k not in exclude}

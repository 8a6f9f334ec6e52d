"""Fast construction of the frozen, slotted record classes (it runs once per record)."""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["slot_builder"]

T = TypeVar("T")


def slot_builder(cls: type[T], names: tuple[str, ...]) -> Callable[..., T]:
    """A function that takes the values of ``names`` positionally and returns the same
    instance as ``cls(**dict(zip(names, values)))``.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` and
    parses keywords; setting the slots directly is about 2.5x faster for a record of twenty
    fields. If ``names`` is not exactly the class's fields, or the class is not a plain
    slotted dataclass, the function calls the class itself.
    """
    fields = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    plain = (
        sorted(fields) == sorted(names)
        and not hasattr(cls, "__post_init__")
        and all(isinstance(cls.__dict__.get(n), types.MemberDescriptorType) for n in names)
        and all(n.isidentifier() for n in names)
    )
    if not plain:

        def construct(*values: Any) -> T:
            return cls(**dict(zip(names, values, strict=True)))

        return construct
    setters = {f"_set_{n}": cls.__dict__[n].__set__ for n in names}
    body = "".join(f"    _set_{n}(obj, {n})\n" for n in names)
    source = f"def build({', '.join(names)}):\n    obj = _new(_cls)\n{body}    return obj\n"
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls, **setters}
    exec(source, namespace)  # the way dataclasses writes __init__ itself
    build: Callable[..., T] = namespace["build"]
    return build

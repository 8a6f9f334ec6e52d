"""A hang guard for tests of bounded waits: the call must return, but how fast is not asserted.

A test that checks "X returns within its timeout" makes the unbounded alternative far longer
(an hour of retries, a request that hangs until the server stops) and runs X under this
guard: a regression hangs past the guard and fails, while a busy machine only makes the test
slower. Durations belong in benchmarks/.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Final, TypeVar

__all__ = ["HANG_GUARD_S", "returns"]

HANG_GUARD_S: Final = 120.0
"""How long a call may take before it counts as hung: far above any timeout under test."""

T = TypeVar("T")


def returns(call: Callable[[], T], *, guard_s: float = HANG_GUARD_S) -> T:
    """``call()``'s result (or its exception), failing the test if it has not returned within
    ``guard_s`` seconds (the thread is left behind as a daemon)."""
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            result.append(call())
        except BaseException as exc:  # handed to the test's thread
            error.append(exc)

    thread = threading.Thread(target=run, name="hang-guarded call", daemon=True)
    thread.start()
    thread.join(guard_s)
    if thread.is_alive():
        raise AssertionError(f"the call did not return within the {guard_s:g} s hang guard")
    if error:
        raise error[0]
    return result[0]

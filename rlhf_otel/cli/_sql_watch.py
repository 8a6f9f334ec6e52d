"""Stopping a running ``sql`` query: on SIGINT/SIGTERM and after ``--timeout``.

A Python signal handler runs only when the main thread gets back to Python code, which a
long DuckDB query does not do; so the signal's C-level handler writes to a wake-up pipe and
a watchdog thread, waiting on that pipe with the deadline, interrupts the connection.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
import time
from types import FrameType, TracebackType
from typing import Any, Final

__all__ = ["QueryWatch"]

_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)
_REPEAT_S: Final = 0.2  # an interrupt that lands between two queries is not remembered


class QueryWatch:
    """Interrupts the attached DuckDB connection on SIGINT/SIGTERM or at the deadline.

    Use as a context manager around the whole command; :attr:`signal` or
    :attr:`timed_out` says why the query stopped.
    """

    def __init__(self, timeout_s: float | None) -> None:
        self._timeout = timeout_s
        self._con: Any = None
        self._lock = threading.Lock()
        self.signal: int | None = None
        self.timed_out = False
        self._done = False
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        self._previous: dict[int, Any] = {}
        self._wakeup = -1
        self._thread = threading.Thread(target=self._watch, name="rlhf-otel-sql-watch")
        self._thread.daemon = True

    @property
    def stopped(self) -> bool:
        """A signal arrived or the deadline passed."""
        return self.signal is not None or self.timed_out

    def attach(self, con: Any) -> None:
        """Watch ``con`` from now on (interrupted at once if already stopped)."""
        with self._lock:
            self._con = con
        if self.stopped:
            self._interrupt()

    def detach(self) -> None:
        """Stop watching the connection (before closing it: no interrupt may race the close)."""
        with self._lock:
            self._con = None

    def __enter__(self) -> QueryWatch:
        if threading.current_thread() is threading.main_thread():
            for sig in _SIGNALS:
                self._previous[sig] = signal.signal(sig, self._on_signal)
            self._wakeup = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        self._deadline = None if not self._timeout else time.monotonic() + self._timeout
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._done = True
        with contextlib.suppress(OSError):
            os.write(self._write, b"\0")
        self._thread.join()
        with self._lock:
            self._con = None
        if self._previous:
            signal.set_wakeup_fd(self._wakeup)
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)
        os.close(self._read)
        os.close(self._write)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # the watchdog thread already saw this signal through the wake-up pipe
        if self.signal is None:
            self.signal = signum

    def _interrupt(self) -> None:
        with self._lock:
            if self._con is not None:
                # a connection that already failed has nothing left to stop
                with contextlib.suppress(Exception):
                    self._con.interrupt()

    def _watch(self) -> None:
        while not self._done:
            wait: float | None = None
            if self.stopped:
                wait = _REPEAT_S
            elif self._deadline is not None:
                wait = max(0.0, self._deadline - time.monotonic())
            ready, _, _ = select.select([self._read], [], [], wait)
            if self._done:
                return
            if ready:
                for byte in os.read(self._read, 64):
                    if byte in _SIGNALS and self.signal is None:
                        self.signal = byte
            elif self._deadline is not None and time.monotonic() >= self._deadline:
                self.timed_out = True
            if self.stopped:
                self._interrupt()

"""The ZeroDB store's sender thread: batches, retries, the outage breaker, spool and replay."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from rlhf_otel.stores._protocol import DropCounter
from rlhf_otel.stores.zerodb._config import ZeroDBConfig
from rlhf_otel.stores.zerodb._http import Attempt, Outcome, ZeroDBHTTP
from rlhf_otel.stores.zerodb._rows import TABLE_SCHEMA, Row, insert_body, make_row
from rlhf_otel.stores.zerodb._spool import Claim, Spool
from rlhf_otel.stores.zerodb._state import SenderState, ZeroDBStatus

__all__ = ["Sender", "SenderState", "ZeroDBStatus"]

_LOG = logging.getLogger("rlhf_otel.stores.zerodb")


@dataclass(slots=True)
class _Result:
    delivered: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    leftover: list[Row] = field(default_factory=list)
    error: str | None = None

    def add(self, other: _Result) -> None:
        self.delivered += other.delivered
        self.dropped.update(other.dropped)
        self.leftover.extend(other.leftover)
        self.error = other.error or self.error


class Sender:
    """Owns the thread that moves queued rows to ZeroDB (or to the spool)."""

    def __init__(
        self,
        config: ZeroDBConfig,
        http: ZeroDBHTTP,
        spool: Spool | None,
        drops: DropCounter,
        state: SenderState,
    ) -> None:
        self._config = config
        self._http = http
        self._spool = spool
        self._drops = drops
        self._st = state
        self._stop_event = threading.Event()
        self._closing = threading.Event()
        self._table_checked = False
        self._rows_path = http.table_path(config.table_name, "/rows")
        self._query_path = http.table_path(config.table_name, "/query")
        self._thread = threading.Thread(target=self._run, name="rlhf-otel-zerodb", daemon=True)
        self._st.spool_dirty = spool is not None

    def start(self) -> None:
        """Start the sender thread."""
        self._thread.start()

    # -- the loop ----------------------------------------------------------------------

    def _down(self, now: float) -> bool:
        return not self._st.healthy and now < self._st.down_until

    def _ready(self) -> bool:
        st, now = self._st, time.monotonic()
        if st.stop:
            return True
        if self._down(now):
            return bool(st.queue) and self._spool is not None
        return bool(st.queue) or (st.spool_dirty and self._spool is not None)

    def _run(self) -> None:
        st = self._st
        while True:
            with st.cv:
                while not self._ready():
                    wait = None if st.healthy else max(st.down_until - time.monotonic(), 0.001)
                    st.cv.wait(wait)
                if st.stop:
                    break
                now = time.monotonic()
                if self._down(now):
                    mode, rows = "spool", list(st.queue)
                    st.queue.clear()
                elif st.spool_dirty and self._spool is not None:
                    mode, rows = "replay", []
                else:
                    if len(st.queue) < self._config.batch_size and not st.urgent:
                        st.cv.wait_for(
                            lambda: (
                                len(st.queue) >= self._config.batch_size
                                or bool(st.urgent)
                                or st.stop
                            ),
                            timeout=self._config.linger,
                        )
                    n = min(len(st.queue), self._config.batch_size)
                    mode, rows = "send", [st.queue.popleft() for _ in range(n)]
                    st.inflight = rows
            try:
                if mode == "spool":
                    self.spool_or_drop(rows, "unavailable")
                elif mode == "replay":
                    self._replay_one()
                elif rows:
                    self._send(rows)
            except Exception:  # the sender must outlive any bug; the rows are kept
                if self._abandoned():
                    return
                _LOG.exception("ZeroDB store: sender error; keeping the records in the spool")
                self.spool_or_drop(rows, "sender_error")
            finally:
                with st.cv:
                    if mode == "send":
                        st.inflight = []
                    st.cv.notify_all()
        with st.cv:
            rows = list(st.queue)
            st.queue.clear()
        self.spool_or_drop(rows, "closed")

    def _abandoned(self) -> bool:
        with self._st.cv:
            return self._st.abandoned

    def _send(self, rows: list[Row]) -> None:
        result = self._deliver(rows, check_first=False)
        if self._abandoned():
            return  # stop() already spooled these rows; the replay sorts out any duplicate
        self._settle(result, own=True, replay=False)
        self.spool_or_drop(result.leftover, "unavailable")

    def _settle(self, result: _Result, *, own: bool, replay: bool) -> None:
        for reason, n in result.dropped.items():
            self._drops.add(reason, n)
        if sum(result.dropped.values()):
            _LOG.error(
                "ZeroDB store: service rejected %d record(s): %s",
                sum(result.dropped.values()),
                result.error,
            )
        with self._st.cv:
            self._st.failing = False
            if own:
                self._st.delivered += result.delivered
            if replay:
                self._st.replayed += result.delivered
            if result.leftover:
                self._failed(result.error or "delivery failed")
            elif result.delivered:
                self._succeeded()
            self._st.cv.notify_all()

    def _failed(self, error: str) -> None:
        st = self._st
        was = st.healthy
        st.healthy, st.last_error = False, error
        st.down_until = time.monotonic() + self._config.probe_interval
        if was:
            where = f"spooling to {self._spool.path}" if self._spool else "dropping (spool off)"
            _LOG.warning(
                "ZeroDB store: cannot deliver (%s); %s, trying again every %.1fs",
                error,
                where,
                self._config.probe_interval,
            )

    def _succeeded(self) -> None:
        st = self._st
        if not st.healthy:
            _LOG.warning("ZeroDB store: service answers again; replaying the spool")
            st.healthy, st.down_until = True, 0.0
            st.spool_dirty = self._spool is not None

    def spool_or_drop(self, rows: Sequence[Row], reason: str) -> None:
        """Keep ``rows`` in the spool, or count them as dropped for ``reason`` if it cannot."""
        if not rows:
            return
        if self._spool is None:
            self._drops.add(reason, len(rows))
            return
        if self._spool.append([r.text for r in rows]):
            with self._st.cv:
                self._st.spool_dirty = True
                self._st.cv.notify_all()
            return
        error = self._spool.last_error or "spool error"
        self._drops.add("spool_full" if "full" in error else "spool_error", len(rows))
        _LOG.error("ZeroDB store: dropped %d record(s): %s", len(rows), error)

    # -- delivery ----------------------------------------------------------------------

    def _deliver(self, rows: list[Row], *, check_first: bool) -> _Result:
        unique = list({r.key: r for r in reversed(rows)}.values())[::-1]
        base = _Result(delivered=len(rows) - len(unique))
        if check_first:
            missing = self._missing(unique)
            if missing is None:
                base.leftover, base.error = rows, self._st.last_error or "existence check failed"
                base.delivered = 0
                return base
            base.delivered += len(unique) - len(missing)
            unique = missing
        if unique:
            base.add(self._insert(unique))
        return base

    def _missing(self, rows: list[Row]) -> list[Row] | None:
        keys = [r.key for r in rows]
        payload = {
            "filter": {"idempotency_key": {"$in": keys}},
            "projection": {"idempotency_key": 1},
            "limit": 1000,
            "offset": 0,
        }
        attempt = self._http.send(
            "POST", self._query_path, payload, timeout=self._config.request_timeout
        )
        if attempt.status == 404:  # no table yet, so none of them is stored
            return list(rows)
        if attempt.outcome is not Outcome.OK or not isinstance(attempt.body, Mapping):
            with self._st.cv:
                self._st.last_error = attempt.error
            return None
        present = set()
        for row in attempt.body.get("rows") or ():
            data = row.get("row_data", row) if isinstance(row, Mapping) else {}
            present.add(data.get("idempotency_key") if isinstance(data, Mapping) else None)
        return [r for r in rows if r.key not in present]

    def _insert(self, rows: list[Row]) -> _Result:
        current = [rows]
        already = [0]

        def on_retry(failed: Attempt) -> Attempt | bytes | None:
            if not failed.maybe_committed:
                return None
            missing = self._missing(current[0])
            if missing is None:
                return Attempt(Outcome.RETRY, error=failed.error)
            already[0] += len(current[0]) - len(missing)
            current[0] = missing
            return insert_body(missing) if missing else Attempt(Outcome.OK)

        attempt = self._http.call(
            "POST",
            self._rows_path,
            insert_body(rows),
            budget=self._config.retry_budget,
            stop=self._stop_event,
            on_retry=on_retry,
            give_up=self._give_up,
            on_failure=self._retrying,
        )
        rows = current[0]
        result = _Result(delivered=already[0])
        if attempt.outcome is Outcome.OK:
            result.delivered += len(rows)
        elif attempt.outcome is Outcome.REJECTED:
            if len(rows) == 1:
                if attempt.status == 409:  # a unique index says it is already stored
                    result.delivered += 1
                else:
                    result.dropped[f"rejected_{attempt.status}"] += 1
                    result.error = attempt.error
            else:
                for part in (rows[: len(rows) // 2], rows[len(rows) // 2 :]):
                    if result.leftover:
                        result.leftover.extend(part)
                    else:
                        result.add(self._insert(part))
        elif attempt.status == 404 and not self._table_checked:
            self._table_checked = True
            if self.ensure_table(budget=self._config.retry_budget) is not None:
                result.add(self._insert(rows))
            else:
                result.leftover, result.error = rows, self._st.last_error
        else:
            result.leftover, result.error = rows, attempt.error
        return result

    def _give_up(self, failed: Attempt) -> bool:
        # While someone waits (flush, close), a service that cannot even be connected to is
        # not waited for: the rows go to the spool now and the probes take over. Other
        # failures are retried within the budget (and close()'s deadline).
        waiting = self._closing.is_set() or self._st.urgent > 0
        return waiting and failed.status is None and not failed.maybe_committed

    def _retrying(self, failed: Attempt) -> None:
        with self._st.cv:
            self._st.failing = True
            self._st.cv.notify_all()

    def ensure_table(self, *, budget: float, retry: bool = True) -> bool | None:
        """Create the table if missing: ``True`` created, ``False`` existed, ``None`` failed.

        Without ``retry`` each request is tried once, within ``budget`` seconds.
        """
        path = self._http.table_path(self._config.table_name)
        tries = None if retry else 1
        found = self._http.call("GET", path, budget=budget, max_attempts=tries)
        if found.outcome is Outcome.OK:
            return False
        if found.status == 404:
            payload = {
                "table_name": self._config.table_name,
                "schema": dict(TABLE_SCHEMA),
                "description": "rlhf-otel interactions and feedback",
            }
            made = self._http.call(
                "POST",
                f"/projects/{self._config.project_id}/database/tables",
                payload,
                budget=budget,
                max_attempts=tries,
            )
            if made.outcome is Outcome.OK:
                _LOG.info("ZeroDB store: created table %s", self._config.table_name)
                return True
            if made.status == 409:
                return False
            found = made
        with self._st.cv:
            self._st.last_error = found.error
        return None

    # -- replay ------------------------------------------------------------------------

    def _replay_one(self) -> None:
        assert self._spool is not None
        claim = self._spool.claim()
        if claim is None:
            # Only this process's open file is left: close it so it can be claimed too.
            self._spool.rotate()
            claim = self._spool.claim()
        if claim is None:
            gone = self._spool.forget_vanished()
            with self._st.cv:
                self._st.delivered += gone
                self._st.spool_dirty = False
            return
        try:
            done = self._replay(claim)
        finally:
            if claim.start >= len(claim.lines):
                self._spool.finish(claim)
            else:
                self._spool.release(claim)
        if not done:
            return

    def _replay(self, claim: Claim) -> bool:
        assert self._spool is not None
        size = self._config.batch_size
        for start in range(claim.start, len(claim.lines), size):
            rows, corrupt = self._parse(claim.lines[start : start + size])
            result = self._deliver(rows, check_first=True) if rows else _Result()
            if result.leftover:
                result = _Result(leftover=result.leftover, error=result.error)
                self._settle(result, own=claim.own, replay=True)
                return False
            if corrupt:
                result.dropped["spool_corrupt"] += corrupt
            if not claim.own:
                result = _Result(
                    delivered=result.delivered, dropped=result.dropped, error=result.error
                )
            self._settle(result, own=claim.own, replay=True)
            self._spool.progress(claim, min(start + size, len(claim.lines)))
        return True

    def _parse(self, lines: list[str]) -> tuple[list[Row], int]:
        rows, corrupt = [], 0
        now = time.time_ns() // 1000
        for n, line in enumerate(lines):
            try:
                d = json.loads(line)
                rows.append(make_row(d, line, now + n))
            except (ValueError, KeyError, TypeError):
                corrupt += 1
        return rows, corrupt

    # -- flush, stop, status -----------------------------------------------------------

    def begin_close(self) -> None:
        """From now on, a batch that cannot reach the service is spooled without retries."""
        self._closing.set()

    def failing(self) -> bool:
        """Whether the service is known down or the batch being sent is failing."""
        with self._st.cv:
            return self._st.failing or not self._st.healthy

    def flush(
        self, timeout: float, *, await_probe: bool = True, while_failing: bool = True
    ) -> bool:
        """Wait until nothing of this store is pending; see ``ZeroDBStore.flush``.

        While the service is down and everything pending is spooled, wait for the next probe
        only if ``await_probe`` and it falls before the deadline. Without ``while_failing``,
        return as soon as the batch being sent has failed once (a read need not wait for
        retries that its own request would meet too).
        """
        st = self._st
        deadline = time.monotonic() + max(timeout, 0.0)
        # An outage is not waited out for longer than flush_timeout, whatever the caller
        # asked: a logger passes its export_timeout there, so its close stays bounded.
        probe_deadline = min(deadline, time.monotonic() + self._config.flush_timeout)
        with st.cv:
            st.urgent += 1
            st.cv.notify_all()
            try:
                while True:
                    in_memory = len(st.queue) + len(st.inflight)
                    spooled = 0
                    if self._spool is not None:
                        spooled = self._spool.own_pending() + int(st.spool_dirty)
                    if in_memory == 0 and spooled == 0:
                        return True
                    now = time.monotonic()
                    if (
                        in_memory == 0
                        and self._down(now)
                        and (not await_probe or st.down_until >= probe_deadline)
                    ):
                        return False
                    if now >= deadline or not self._thread.is_alive():
                        return False
                    if not while_failing and st.failing and in_memory:
                        return False
                    st.cv.wait(min(deadline - now, 0.1))
            finally:
                st.urgent -= 1

    def stop(self, timeout: float) -> None:
        """Stop the thread (waiting up to ``timeout``) and spool whatever was not sent."""
        with self._st.cv:
            self._st.stop = True
            self._st.cv.notify_all()
        self._stop_event.set()
        self._thread.join(timeout)
        with self._st.cv:
            rows = list(self._st.queue)
            self._st.queue.clear()
            stuck: list[Row] = []
            if self._thread.is_alive():
                stuck, self._st.inflight = list(self._st.inflight), []
                self._st.abandoned = True
        # A request still hanging may yet succeed: its rows are spooled as well, and the
        # replay's existence check keeps them from being stored twice.
        self.spool_or_drop(rows + stuck, "closed")

    def status(self) -> ZeroDBStatus:
        """A snapshot of the counters."""
        st = self._st
        with st.cv:
            return ZeroDBStatus(
                accepted=st.accepted,
                delivered=st.delivered,
                queued=len(st.queue),
                in_flight=len(st.inflight),
                spooled=self._spool.own_pending() if self._spool is not None else 0,
                replayed=st.replayed,
                dropped=self._drops.snapshot(),
                requests=self._http.requests,
                healthy=st.healthy,
                last_error=st.last_error,
                gzip=self._http.gzip_enabled,
                spool_dir=None if self._spool is None else str(self._spool.path),
            )

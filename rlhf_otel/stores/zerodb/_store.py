"""The ZeroDB store: records as rows of a ZeroDB table, sent by a background sender thread.

``write()`` only serialises the records and queues them (it never waits on the network); a
sender thread owned by the store batches them into inserts of at most 1000 rows, retries
within a budget, and spools to local JSONL files what it cannot deliver; it replays the spool
(its own and any earlier process's) once the service answers again.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import threading
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import httpx

from rlhf_otel._errors import StoreError
from rlhf_otel.records import (
    Feedback,
    FeedbackFilter,
    Interaction,
    InteractionFilter,
    format_timestamp,
)
from rlhf_otel.stores._protocol import DropCounter
from rlhf_otel.stores.zerodb._config import ZeroDBConfig
from rlhf_otel.stores.zerodb._http import Outcome, ZeroDBHTTP
from rlhf_otel.stores.zerodb._rows import (
    encode_record,
    feedback_query,
    interaction_query,
    make_row,
    record_from_row,
)
from rlhf_otel.stores.zerodb._send import Sender, SenderState, ZeroDBStatus
from rlhf_otel.stores.zerodb._spool import Spool

__all__ = ["ZeroDBStore"]

_LOG = logging.getLogger("rlhf_otel.stores.zerodb")
R = TypeVar("R", Interaction, Feedback)
_LIVE: weakref.WeakSet[ZeroDBStore] = weakref.WeakSet()
_ATEXIT = threading.Lock()
_ATEXIT_DONE: list[bool] = []
_MAX_DUPLICATES = 100_000


def _spool_live_stores() -> None:
    for store in list(_LIVE):
        store._spool_at_exit()


class ZeroDBStore:
    """Interactions and feedback in a ZeroDB table, over the tables HTTP API.

    Args:
        config: a :class:`ZeroDBConfig`; or leave it out and pass its fields as keywords
            (``ZeroDBStore(project_id="p", api_key=..., spool_dir="/var/spool/app")``).
            Keywords given with a config override its fields.
        transport: an ``httpx`` transport to use instead of the network (tests, proxies).

    Writes return at once: a sender thread delivers them (see the module docstring).
    ``flush(timeout)`` says whether everything written so far reached ZeroDB (or was counted
    as dropped); ``dropped()`` counts records lost by reason; ``status()`` has the rest.
    Reads flush pending writes first and raise :class:`~rlhf_otel.StoreError` when the
    service cannot answer within ``read_timeout`` (at once for a refused key).
    ``close()`` takes at most ``flush_timeout`` and says how many records it left in the
    spool (a WARNING, and ``status().spooled``).
    """

    def __init__(
        self,
        config: ZeroDBConfig | None = None,
        /,
        *,
        transport: httpx.BaseTransport | None = None,
        **options: Any,
    ) -> None:
        if config is None:
            config = ZeroDBConfig(**options)
        elif options:
            config = dataclasses.replace(config, **options)
        self._config = config
        self._http = ZeroDBHTTP(config, transport)
        self._spool = Spool(config.spool_path, config.spool_max_bytes) if config.spool else None
        self._drops = DropCounter()
        self._problems = DropCounter()
        self._problems_lock = threading.Lock()
        self._duplicates: set[tuple[str, str]] = set()
        self._state = SenderState()
        self._written_us = 0
        self._closed = False
        self._sender = Sender(config, self._http, self._spool, self._drops, self._state)
        self._sender.start()
        with _ATEXIT:
            if not _ATEXIT_DONE:
                atexit.register(_spool_live_stores)
                _ATEXIT_DONE.append(True)
        _LIVE.add(self)

    def __repr__(self) -> str:
        c = self._config
        return (
            f"ZeroDBStore(project_id={c.project_id!r}, table_name={c.table_name!r}, "
            f"api_root={c.api_root!r})"
        )

    @property
    def config(self) -> ZeroDBConfig:
        """The configuration in force (its ``api_key`` is a :class:`Secret`)."""
        return self._config

    # -- setup -------------------------------------------------------------------------

    def initialize(self, timeout: float = 5.0) -> bool | None:
        """Create the table with its schema and indexes unless it exists.

        Each request is tried once, within ``timeout`` seconds, and nothing is raised: the
        logger calls this on its first record, and telemetry must not fail or stall the app.

        Returns:
            ``True`` if this call created the table, ``False`` if it was already there, and
            ``None`` if the service could not say (logged; ``status().last_error`` has why).
            Then the first write that finds the table missing creates it.
        """
        created = self._sender.ensure_table(budget=timeout, retry=False)
        if created is None:
            _LOG.warning(
                "ZeroDB store: cannot check table %s now: %s",
                self._config.table_name,
                self._state.last_error,
            )
        return created

    # -- writes ------------------------------------------------------------------------

    def write(self, interactions: Sequence[Interaction], feedback: Sequence[Feedback]) -> None:
        """Queue a batch for delivery; never blocks on the network and never raises."""
        encoded: list[tuple[dict[str, Any], str]] = []
        records: list[Interaction | Feedback] = [*interactions, *feedback]
        for record in records:
            try:
                encoded.append(encode_record(record))
            except Exception as exc:  # a broken record must not take the batch down
                self._drops.add("unserializable")
                _LOG.warning("ZeroDB store: dropped unserialisable record: %s", type(exc).__name__)
        if not encoded:
            return
        with self._state.cv:
            now = time.time_ns() // 1000
            rows = []
            for d, text in encoded:
                self._written_us = max(now, self._written_us + 1)
                rows.append(make_row(d, text, self._written_us))
            self._state.accepted += len(rows)
            reason = "closed" if self._closed else "queue_full"
            if self._closed:
                overflow, rows = rows, []
            else:
                room = max(self._config.max_queue - len(self._state.queue), 0)
                rows, overflow = rows[:room], rows[room:]
                self._state.queue.extend(rows)
                self._state.cv.notify_all()
        if overflow:
            self._sender.spool_or_drop(overflow, reason)
            if reason == "closed" and self._spool is not None:
                self._spool.close()

    def flush(self, timeout: float | None = None) -> bool:
        """Deliver what is pending; ``True`` if every record written so far reached ZeroDB.

        Records counted in ``dropped()`` do not make it ``False``; records waiting in the spool
        do. Returns after at most ``timeout`` seconds (``None``: the config's
        ``flush_timeout``); at once while the service is known to be down, everything pending
        is safe in the spool and the next attempt to reach it (``probe_interval``) falls
        after the timeout.
        """
        return self._sender.flush(self._config.flush_timeout if timeout is None else timeout)

    def dropped(self) -> Mapping[str, int]:
        """Records lost so far, by reason (``rejected_<status>``, ``spool_full``, ...)."""
        return self._drops.snapshot()

    def status(self) -> ZeroDBStatus:
        """Counts and health of the delivery pipeline (a consistent snapshot)."""
        return self._sender.status()

    # -- reads -------------------------------------------------------------------------

    def _before_read(self) -> float:
        """Flush pending writes (not past a first failure); the deadline of the first request."""
        timeout = self._config.read_timeout
        deadline = time.monotonic() + timeout
        if self._state.has_work():
            self._sender.flush(timeout / 2, await_probe=False, while_failing=False)
        return deadline

    def _budget(self, deadline: float | None) -> tuple[float, int | None]:
        """Seconds and attempts for one read request."""
        timeout = self._config.read_timeout
        budget = timeout if deadline is None else max(deadline - time.monotonic(), timeout / 2)
        return budget, 1 if self._sender.failing() else None

    def _query(
        self,
        flt: Mapping[str, Any],
        *,
        sort: Mapping[str, int],
        limit: int,
        offset: int,
        deadline: float | None = None,
    ) -> list[Mapping[str, Any]]:
        payload = {"filter": flt, "sort": dict(sort), "limit": limit, "offset": offset}
        budget, attempts = self._budget(deadline)
        attempt = self._http.call(
            "POST",
            self._http.table_path(self._config.table_name, "/query"),
            payload,
            budget=budget,
            max_attempts=attempts,
        )
        if attempt.outcome is not Outcome.OK:
            raise StoreError(f"ZeroDB query failed: {attempt.error}")
        body = attempt.body if isinstance(attempt.body, Mapping) else {}
        rows = body.get("rows")
        if not isinstance(rows, list):
            raise StoreError("ZeroDB query answer has no 'rows' list")
        return rows

    def _get(self, kind: type[R], flt: Mapping[str, Any], newest: bool = True) -> R | None:
        deadline = self._before_read()
        order = -1 if newest else 1
        rows = self._query(flt, sort={"written_us": order}, limit=1, offset=0, deadline=deadline)
        for row in rows:
            record = record_from_row(row)
            if isinstance(record, kind):
                return record
        return None

    def get_interaction(self, interaction_id: str) -> Interaction | None:
        """The interaction with this id (its newest version), or ``None``."""
        return self._get(Interaction, {"type": "interaction", "id": interaction_id})

    def get_feedback(self, feedback_id: str) -> Feedback | None:
        """The feedback with this id (its first stored copy, the one that counts), or
        ``None``."""
        return self._get(Feedback, {"type": "feedback", "id": feedback_id}, newest=False)

    def get_feedback_for_interaction(self, interaction_id: str) -> list[Feedback]:
        """Every feedback that names this interaction as a target, oldest written first."""
        return list(self.scan_feedback(FeedbackFilter(interaction_ids=[interaction_id])))

    def _scan(
        self, kind: type[R], flt: Mapping[str, Any], offset: int, limit: int | None, deadline: float
    ) -> Iterator[R]:
        if limit == 0:
            return
        seen: set[str] = set()
        skipped = yielded = page_offset = 0
        size = self._config.page_size
        first: float | None = deadline
        while True:
            rows = self._query(
                flt, sort={"written_us": 1, "id": 1}, limit=size, offset=page_offset, deadline=first
            )
            first = None
            for row in rows:
                record = record_from_row(row)
                if not isinstance(record, kind):
                    continue
                if record.id in seen:
                    self._duplicate(kind, record.id, row)
                    continue
                seen.add(record.id)
                if skipped < offset:
                    skipped += 1
                    continue
                yield record
                yielded += 1
                if limit is not None and yielded >= limit:
                    return
            if len(rows) < size:
                return
            page_offset += len(rows)

    def _duplicate(self, kind: type[R], record_id: str, row: Mapping[str, Any]) -> None:
        key = (record_id, str(row.get("written_us")))
        with self._problems_lock:
            if key in self._duplicates or len(self._duplicates) >= _MAX_DUPLICATES:
                return
            self._duplicates.add(key)
        name = "feedback" if kind is Feedback else "interaction"
        self._problems.add(f"duplicate_{name}_id")

    def read_problems(self) -> Mapping[str, int]:
        """Stored records not counted, by reason: ``duplicate_feedback_id`` /
        ``duplicate_interaction_id`` (an id stored again; its first copy counts), each
        copy counted once however often it is read."""
        return self._problems.snapshot()

    def scan_interactions(self, flt: InteractionFilter | None = None) -> Iterator[Interaction]:
        """Interactions matching ``flt`` (pushed down as a MongoDB-style filter), paged."""
        deadline = self._before_read()
        offset, limit = (0, None) if flt is None else (flt.offset, flt.limit)
        return self._scan(Interaction, interaction_query(flt), offset, limit, deadline)

    def scan_feedback(self, flt: FeedbackFilter | None = None) -> Iterator[Feedback]:
        """Feedback matching ``flt`` (pushed down as a MongoDB-style filter), paged."""
        deadline = self._before_read()
        offset, limit = (0, None) if flt is None else (flt.offset, flt.limit)
        return self._scan(Feedback, feedback_query(flt), offset, limit, deadline)

    def query_feedback(self, flt: FeedbackFilter | None = None) -> list[Feedback]:
        """``list(scan_feedback(flt))``."""
        return list(self.scan_feedback(flt))

    def purge(self, *, before: datetime | None = None, user_id: str | None = None) -> int:
        """Delete delivered records older than ``before`` and/or of ``user_id``; the count.

        Pending writes are flushed first. Records still in the spool are not touched.
        """
        if before is None and user_id is None:
            raise ValueError("purge needs before= and/or user_id=; refusing to delete everything")
        deadline = self._before_read()
        flt: dict[str, Any] = {}
        if before is not None:
            flt["timestamp"] = {"$lt": format_timestamp(before)}
        if user_id is not None:
            flt["user_id"] = user_id
        budget, attempts = self._budget(deadline)
        attempt = self._http.call(
            "DELETE",
            self._http.table_path(self._config.table_name, "/rows"),
            {"filter": flt, "limit": 0},
            budget=budget,
            max_attempts=attempts,
        )
        if attempt.outcome is not Outcome.OK:
            raise StoreError(f"ZeroDB delete failed: {attempt.error}")
        body = attempt.body if isinstance(attempt.body, Mapping) else {}
        return int(body.get("deleted_count", 0))

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Deliver what is pending, spool what is left; takes at most ``flush_timeout``.

        While the service cannot be connected to, pending records go to the spool at once.
        A WARNING says how many records this store left in the spool (``status().spooled``);
        the next store on the same spool folder replays them.
        """
        deadline = time.monotonic() + self._config.flush_timeout
        with self._state.cv:
            if self._closed:
                return
            self._closed = True
        self._sender.begin_close()
        # what is left of the deadline after the flush: for the sender to wind down
        reserve = min(0.25, self._config.flush_timeout / 4)
        self._sender.flush(max(deadline - time.monotonic() - reserve, 0.0), await_probe=False)
        self._sender.stop(max(deadline - time.monotonic(), 0.0))
        self._http.close()
        if self._spool is not None:
            self._spool.close()
        _LIVE.discard(self)
        status = self.status()
        if status.spooled:
            _LOG.warning(
                "ZeroDB store: closed with %d record(s) in the spool %s (%s); the next "
                "ZeroDBStore on this spool folder replays them",
                status.spooled,
                status.spool_dir,
                status.last_error or "not delivered in time",
            )

    def _spool_at_exit(self) -> None:
        if not self._closed:
            self._sender.stop(0.0)
            if self._spool is not None:
                self._spool.close()

    def __enter__(self) -> ZeroDBStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""The local JSONL store: append-only, rotating, optionally compressed, crash-safe, indexed."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any

from rlhf_otel._errors import ConfigurationError, StoreError, ValidationError
from rlhf_otel.records import (
    Feedback,
    FeedbackFilter,
    Interaction,
    InteractionFilter,
    feedback_from_dict,
    feedback_to_dict,
    format_timestamp,
    interaction_from_dict,
    interaction_to_dict,
)
from rlhf_otel.stores._protocol import DropCounter, apply_window
from rlhf_otel.stores.jsonl._config import FsyncPolicy, JsonlHealth, JsonlStoreConfig
from rlhf_otel.stores.jsonl._format import MAX_LINE_BYTES, dumps_line
from rlhf_otel.stores.jsonl._fs import DataDir
from rlhf_otel.stores.jsonl._index import TailIndex
from rlhf_otel.stores.jsonl._maint import Maintenance
from rlhf_otel.stores.jsonl._read import Problems, SegmentReader, simple_needle
from rlhf_otel.stores.jsonl._worker import Worker, WorkerParts
from rlhf_otel.stores.jsonl._writer import EncodedRecord, Sealed, SegmentWriter

__all__ = ["FsyncPolicy", "JsonlHealth", "JsonlStore", "JsonlStoreConfig"]

_log = logging.getLogger("rlhf_otel.stores.jsonl")


class JsonlStore:
    """Records as JSON lines in rotating segment files under ``data_dir``.

    Each process appends to its own active segment per kind (interactions, feedback),
    seals it at ``max_file_size_mb`` and optionally compresses it; every read covers the
    active, sealed and compressed segments of every process. Lookups by id use a per-segment
    index (16 bytes per record, memory-mapped). See ``docs/jsonl-store.md`` for the layout
    and the durability policy.

    Example::

        store = JsonlStore("./rlhf-data", compress=True)
        store.write([interaction], [])
        store.get_interaction(interaction.id)

    Args:
        data_dir: directory (default ``./rlhf-data``); the other arguments are those of
            :class:`JsonlStoreConfig`.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] = "./rlhf-data",
        *,
        compress: bool = False,
        max_file_size_mb: float = 100.0,
        rotate_files: bool = True,
        fsync: FsyncPolicy = "interval",
        fsync_interval_s: float = 1.0,
        retention_max_age: timedelta | None = None,
        retention_max_bytes: int | None = None,
        max_line_bytes: int = MAX_LINE_BYTES,
        retention_rated_max_age: timedelta | None = None,
        config: JsonlStoreConfig | None = None,
    ) -> None:
        cfg = config or JsonlStoreConfig(
            data_dir=data_dir,
            compress=compress,
            max_file_size_mb=max_file_size_mb,
            rotate_files=rotate_files,
            fsync=fsync,
            fsync_interval_s=fsync_interval_s,
            retention_max_age=retention_max_age,
            retention_max_bytes=retention_max_bytes,
            max_line_bytes=max_line_bytes,
            retention_rated_max_age=retention_rated_max_age,
        )
        self.config = cfg
        self._problems = Problems()
        self._dir = DataDir(cfg.data_dir, on_strange=self._strange)
        durable = cfg.fsync != "none"
        self._drops = DropCounter()
        self._pending: dict[str, TailIndex] = {}
        self._closed = False
        self._close_lock = threading.Lock()
        self._retention = (0, 0)
        self._durable = durable
        try:
            self._start_writer()
        except OSError as exc:
            self._dir.close()
            raise ConfigurationError(
                f"data_dir {self.data_dir!r} is not writable ({exc.strerror}); the JSONL "
                "store needs a directory it can create files in"
            ) from exc
        with self._dir.maintenance(wait=False) as locked:
            if locked:
                self._maint.recover(self._dir.listing())
        self._worker.submit(("sweep", None))

    def _start_writer(self) -> None:
        cfg = self.config
        self._pid = os.getpid()
        self.writer_id, self._writer_fd = self._dir.new_writer()
        self._maint = Maintenance(
            self._dir,
            self.writer_id,
            durable=self._durable,
            drops=self._drops,
            max_line=cfg.max_line_bytes,
        )
        self._writer = SegmentWriter(
            self._dir,
            self.writer_id,
            max_bytes=int(cfg.max_file_size_mb * 1024 * 1024) if cfg.rotate_files else None,
            fsync=cfg.fsync,
            drops=self._drops,
            on_seal=self._sealed,
        )
        self._reader = SegmentReader(
            self._dir,
            self.writer_id,
            durable=self._durable,
            own_active=self._writer.active,
            pending=self._pending,
            problems=self._problems,
            max_line=cfg.max_line_bytes,
        )
        interval = cfg.fsync_interval_s if cfg.fsync == "interval" else None
        self._worker = Worker(
            WorkerParts(
                config=cfg,
                writer_id=self.writer_id,
                data_dir=self._dir,
                maint=self._maint,
                reader=self._reader,
                sync_active=self._writer.sync,
                sync_file=self._sync_file,
                pending=self._pending,
                count_retention=self._count_retention,
            ),
            interval=interval,
        )

    def _count_retention(self, deleted: int, records: int) -> None:
        self._retention = (self._retention[0] + deleted, self._retention[1] + records)

    def _forked(self) -> None:
        # a forked child shares the parent's segment descriptors and lock: it must never
        # append to them, so it becomes a writer of its own
        with contextlib.suppress(OSError):
            os.close(self._writer_fd)
        self._writer.abandon()
        self._pending.clear()
        self._start_writer()

    @property
    def data_dir(self) -> str:
        """The store's directory."""
        return str(self._dir.path)

    def segment_files(self, kind: str) -> list[str]:
        """Paths of this kind's segments (active, plain and gzip), oldest first.

        For engines that read the files themselves (the analytics views): call ``flush``
        first to see every write. Compression or retention may rename or delete a file
        after this returns.
        """
        self._check_open()
        if kind not in ("interactions", "feedback"):
            raise ValueError(f"kind must be 'interactions' or 'feedback'; got {kind!r}")
        base = str(self._dir.path)
        return [os.path.join(base, name) for _, name in self._reader.segments(kind)]

    # ------------------------------------------------------------------ writing
    def write(self, interactions: Sequence[Interaction], feedback: Sequence[Feedback]) -> None:
        """Append a batch; a full disk or other I/O error is counted in ``dropped()``."""
        if os.getpid() != self._pid:
            self._forked()
        if interactions:
            self._writer.write("interactions", self._encode(interactions, interaction_to_dict))
        if feedback:
            self._writer.write("feedback", self._encode(feedback, feedback_to_dict))

    def _strange(self, name: str) -> None:
        self._problems.add("not_regular_file", name, -1)

    def _encode(self, records: Sequence[Any], to_dict: Any) -> list[EncodedRecord]:
        out: list[EncodedRecord] = []
        append = out.append
        max_line = self.config.max_line_bytes
        for r in records:
            try:
                d = to_dict(r)
                line = dumps_line(d)
            except Exception:  # a bad record must not sink its batch
                self._drops.add("unserializable")
                _log.warning("rlhf-otel JSONL store: record %r cannot be serialised", r.id)
                continue
            if len(line) > max_line:
                self._drops.add("record_too_large")
                _log.warning(
                    "rlhf-otel JSONL store: record %r is %d bytes, over max_line_bytes=%d; "
                    "not written",
                    r.id,
                    len(line),
                    max_line,
                )
                continue
            if d["kind"] != "feedback":
                append((line, d["id"], (), d["timestamp"], None))
                continue
            iid, named = d["interaction_id"], d["target_ids"]
            if len(named) == 1 and named[0] == iid:
                targets: tuple[str, ...] = (iid,)
            else:
                targets = tuple(dict.fromkeys((iid, *named)))
            append(
                (line, d["id"], targets, d["timestamp"], (d["type"], d["data"], d["supersedes"]))
            )
        return out

    def flush(self, timeout: float | None = None) -> bool:
        """Make everything written so far durable per the fsync policy.

        Every ``write`` has already reached the OS (it survives the process being killed);
        with ``fsync`` other than ``"none"`` this also forces it to disk. ``timeout`` is
        accepted for the Protocol; an fsync cannot be interrupted. ``False`` if an fsync
        failed (logged).
        """
        del timeout
        if self.config.fsync == "none":
            return True
        ok = self._writer.sync()
        for stem in list(self._pending):
            ok = self._sync_file(stem) and ok
        return ok

    def _sync_file(self, stem: str) -> bool:
        for suffix in (".jsonl", ".jsonl.gz"):
            try:
                fd = self._dir.open_read(stem + suffix)
            except FileNotFoundError:
                continue
            try:
                os.fsync(fd)
            except OSError:
                return False
            finally:
                os.close(fd)
            return True
        return True

    def dropped(self) -> Mapping[str, int]:
        """Records lost, by reason: ``disk_full``, ``disk_quota``, ``io_error``,
        ``unserializable``, ``record_too_large`` (over ``max_line_bytes``),
        ``store_closed``, and ``torn_line`` (a record cut by a crash, repaired at open)."""
        return self._drops.snapshot()

    # ------------------------------------------------------------------ reading
    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(
                f"this JsonlStore on {self.data_dir!r} is closed; open a new one to read"
            )

    def get_interaction(self, interaction_id: str) -> Interaction | None:
        """The interaction with this id (the newest version if written twice), or ``None``."""
        self._check_open()
        d = self._reader.lookup("interactions", interaction_id)
        return None if d is None else _parse(interaction_from_dict, d)

    def get_feedback(self, feedback_id: str) -> Feedback | None:
        """The feedback with this id (the newest version if written twice), or ``None``."""
        self._check_open()
        d = self._reader.lookup("feedback", feedback_id)
        return None if d is None else _parse(feedback_from_dict, d)

    def scan_interactions(self, flt: InteractionFilter | None = None) -> Iterator[Interaction]:
        """Interactions matching ``flt``, oldest written first, ``offset``/``limit`` applied."""
        self._check_open()
        if flt is None:
            return self._records("interactions", interaction_from_dict)
        if flt.limit == 0:
            return iter(())
        if flt.ids is not None:
            found = (self.get_interaction(i) for i in dict.fromkeys(flt.ids))
            hits = sorted(
                (it for it in found if it is not None and flt.matches(it)),
                key=lambda it: it.timestamp,
            )
            return apply_window(hits, flt.offset, flt.limit)
        needles = [
            n
            for n in (
                simple_needle("user_id", flt.user_id) if flt.user_id is not None else None,
                simple_needle("session_id", flt.session_id) if flt.session_id else None,
                simple_needle("model", flt.model) if flt.model is not None else None,
            )
            if n is not None
        ]
        lo, hi = _bounds(flt.start_time, flt.end_time)
        items = self._records("interactions", interaction_from_dict, needles, lo, hi)
        return apply_window((it for it in items if flt.matches(it)), flt.offset, flt.limit)

    def scan_feedback(self, flt: FeedbackFilter | None = None) -> Iterator[Feedback]:
        """Feedback matching ``flt``, oldest written first, ``offset``/``limit`` applied.

        With ``interaction_ids`` set, only the feedback indexed under those interactions is
        read.
        """
        self._check_open()
        if flt is None:
            return self._records("feedback", feedback_from_dict)
        if flt.limit == 0:
            return iter(())
        if flt.interaction_ids is not None:
            dicts = self._reader.lookup_targets(list(flt.interaction_ids))
            found = (fb for fb in (_parse(feedback_from_dict, d) for d in dicts) if fb)
            return apply_window((fb for fb in found if flt.matches(fb)), flt.offset, flt.limit)
        needles = [
            n
            for n in (
                simple_needle("user_id", flt.user_id) if flt.user_id is not None else None,
                simple_needle("session_id", flt.session_id) if flt.session_id else None,
                simple_needle("source", flt.source) if flt.source is not None else None,
            )
            if n is not None
        ]
        lo, hi = _bounds(flt.start_time, flt.end_time)
        items = self._records("feedback", feedback_from_dict, needles, lo, hi)
        return apply_window((fb for fb in items if flt.matches(fb)), flt.offset, flt.limit)

    def _records(
        self,
        kind: str,
        parse: Any,
        needles: Sequence[bytes] = (),
        lo: str | None = None,
        hi: str | None = None,
    ) -> Iterator[Any]:
        def keep(line: bytes) -> bool:
            return all(n in line for n in needles)

        for d in self._reader.iter_dicts(kind, keep if needles else None, lo, hi):
            record = _parse(parse, d)
            if record is not None:
                yield record

    def note_duplicates(self, kind: str, copies: Sequence[tuple[str, int]]) -> None:
        """Count ids a reader found stored more than once (``(id, later copies)``) in
        ``health().read_problems`` as ``duplicate_feedback_id``; each copy counts once
        however often it is read."""
        for record_id, n in copies:
            for copy in range(int(n)):
                self._problems.add(f"duplicate_{kind}_id", record_id, copy, quiet=True)

    # ------------------------------------------------------------------ maintenance
    def purge(self, before: datetime | None = None, user_id: str | None = None) -> int:
        """Delete records for data protection; returns how many were removed.

        ``before`` removes every record whose timestamp is earlier; ``user_id`` every
        record of that user; both together, the user's records before that time. Segments
        are rewritten to a temporary file and renamed over the original. Segments that
        another live process is still appending to cannot be rewritten; they are logged
        (run the purge again once that process has closed its store).
        """
        self._check_open()
        if before is None and user_id is None:
            raise ValidationError("purge needs before=<datetime> and/or user_id=<str>")
        if before is not None and not isinstance(before, datetime):
            raise ValidationError(f"before must be a datetime; got {before!r}")
        if user_id is not None and (not isinstance(user_id, str) or not user_id):
            raise ValidationError(f"user_id must be a non-empty str; got {user_id!r}")
        if before is not None and before.tzinfo is None:
            before = before.replace(tzinfo=timezone.utc)
        self._writer.seal_all()
        with self._dir.maintenance(wait=True):
            self._maint.recover(self._dir.listing())
            for stem in list(self._pending):
                self._pending.pop(stem, None)
                self._worker.submit(("seal", stem))
            result = self._maint.purge(self._dir.listing(), before=before, user_id=user_id)
        for stem in result.rewritten:
            self._reader.forget(stem)
        if result.skipped_live:
            _log.warning(
                "rlhf-otel JSONL store %s: purge skipped %d segments still being written by "
                "other processes: %s",
                self.data_dir,
                len(result.skipped_live),
                ", ".join(result.skipped_live),
            )
        return result.removed

    def apply_retention(self) -> int:
        """Apply the retention caps now; returns the number of segments deleted."""
        with self._dir.maintenance(wait=True):
            return self._worker.retain()

    def health(self) -> JsonlHealth:
        """Counters and sizes, for monitoring."""
        self._check_open()
        listing = self._dir.listing()
        names = [n for segs in listing.segments.values() for _, n in segs]
        size = 0
        for name in names + [n for _, n in listing.others]:
            st = self._dir.stat(name)
            size += 0 if st is None else st.st_size
        return JsonlHealth(
            dropped=self.dropped(),
            read_problems=self._problems.snapshot(),
            segments=len(names),
            bytes=size,
            retention_deleted_segments=self._retention[0],
            retention_deleted_records=self._retention[1],
            writer_id=self.writer_id,
        )

    def _sealed(self, sealed: Sealed) -> None:
        self._pending[sealed.stem] = sealed.index
        self._worker.submit(("seal", sealed.stem))

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Seal this process's segments and release the directory; data stays readable.

        Work still queued (compressing or indexing just-sealed segments) is left for the
        next store opened on this directory, which resumes it.
        """
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self.flush()
        self._writer.close()
        self._worker.stop()
        for stem in list(self._pending):
            # cheap to save now, costly to rebuild: the index and the statistics of the
            # segments just sealed (their compression waits for the next open)
            with contextlib.suppress(OSError):
                self._worker.finish_seal(stem)
        self._dir.release_writer(self.writer_id, self._writer_fd, remove=True)
        self._dir.close()

    def __enter__(self) -> JsonlStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _parse(parse: Any, d: dict[str, Any]) -> Any:
    try:
        return parse(d)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _bounds(start: datetime | None, end: datetime | None) -> tuple[str | None, str | None]:
    return (
        None if start is None else format_timestamp(start),
        None if end is None else format_timestamp(end),
    )

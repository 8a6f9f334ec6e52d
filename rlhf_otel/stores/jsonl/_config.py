"""Settings and health figures of the JSONL store."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final, Literal

from rlhf_otel._errors import ConfigurationError
from rlhf_otel.stores.jsonl._format import MAX_LINE_BYTES

__all__ = ["FsyncPolicy", "JsonlHealth", "JsonlStoreConfig"]

FsyncPolicy = Literal["interval", "batch", "none"]
_POLICIES: Final = ("interval", "batch", "none")
_MIN_LINE_BYTES: Final = 64 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class JsonlStoreConfig:
    """Settings of a :class:`JsonlStore` (the guide's ``local`` backend options).

    Attributes:
        data_dir: the store's directory, created mode 0700 if missing (default
            ``./rlhf-data``).
        compress: gzip segments when they are sealed (default ``False``, as in the guide).
        max_file_size_mb: size at which a segment is sealed and a new one started, in MiB
            (default 100).
        rotate_files: seal segments by size at all (default ``True``); when off, each
            process appends to one segment until it closes.
        fsync: ``"interval"`` (default: records reach the OS at every batch and the disk
            within ``fsync_interval_s``), ``"batch"`` (every batch is on disk before
            ``write`` returns) or ``"none"`` (never fsync: throw-away runs).
        fsync_interval_s: the interval for ``fsync="interval"`` (default 1.0 s).
        retention_max_age: delete sealed segments last written longer ago than this.
        retention_max_bytes: delete the oldest sealed segments while the store is larger
            (a hard cap: it applies to rated records too).
        retention_rated_max_age: a longer period for interactions that received feedback
            and for feedback (default ``None``: no distinction). With it, a sealed
            interaction segment older than ``retention_max_age`` is rewritten without the
            interactions no feedback names, and deleted once older than this; feedback
            segments are deleted once older than this. Needs ``retention_max_age``, and
            must be at least as long.
        max_line_bytes: the longest line (one record's JSON) written or read, in bytes
            (default 64 MiB). A longer record is not written but counted in ``dropped()``
            as ``record_too_large``; a longer line found on disk is skipped and counted in
            ``health().read_problems`` as ``oversized_line`` (in a compressed segment, with
            the rest of that segment), so reading never holds more than about this much.
    """

    data_dir: str | os.PathLike[str] = "./rlhf-data"
    compress: bool = False
    max_file_size_mb: float = 100.0
    rotate_files: bool = True
    fsync: FsyncPolicy = "interval"
    fsync_interval_s: float = 1.0
    retention_max_age: timedelta | None = None
    retention_max_bytes: int | None = None
    max_line_bytes: int = MAX_LINE_BYTES
    retention_rated_max_age: timedelta | None = None

    def __post_init__(self) -> None:
        if (
            isinstance(self.max_line_bytes, bool)
            or not isinstance(self.max_line_bytes, int)
            or self.max_line_bytes < _MIN_LINE_BYTES
        ):
            raise ConfigurationError(
                f"max_line_bytes must be an int >= {_MIN_LINE_BYTES} (bytes); "
                f"got {self.max_line_bytes!r}"
            )
        if not isinstance(self.max_file_size_mb, (int, float)) or not (self.max_file_size_mb > 0):
            raise ConfigurationError(
                f"max_file_size_mb must be a number > 0 (MiB); got {self.max_file_size_mb!r}"
            )
        if self.fsync not in _POLICIES:
            raise ConfigurationError(
                f"fsync must be one of 'interval', 'batch', 'none'; got {self.fsync!r}"
            )
        if not self.fsync_interval_s > 0:
            raise ConfigurationError(
                f"fsync_interval_s must be > 0 seconds; got {self.fsync_interval_s!r}"
            )
        if self.retention_max_age is not None and (
            not isinstance(self.retention_max_age, timedelta)
            or self.retention_max_age <= timedelta(0)
        ):
            raise ConfigurationError(
                "retention_max_age must be a positive datetime.timedelta or None; "
                f"got {self.retention_max_age!r}"
            )
        if self.retention_max_bytes is not None and (
            isinstance(self.retention_max_bytes, bool)
            or not isinstance(self.retention_max_bytes, int)
            or self.retention_max_bytes < 1
        ):
            raise ConfigurationError(
                "retention_max_bytes must be a positive int or None; "
                f"got {self.retention_max_bytes!r}"
            )
        rated = self.retention_rated_max_age
        if rated is not None and (
            not isinstance(rated, timedelta)
            or self.retention_max_age is None
            or rated < self.retention_max_age
        ):
            raise ConfigurationError(
                "retention_rated_max_age must be a datetime.timedelta at least as long as "
                f"retention_max_age (which it needs); got {rated!r} with retention_max_age "
                f"{self.retention_max_age!r}"
            )

    def retention_caps(self) -> tuple[float | None, int | None, float | None]:
        """``(max age s, max bytes, rated max age s)``; all ``None``: no retention."""
        return (
            None if self.retention_max_age is None else self.retention_max_age.total_seconds(),
            self.retention_max_bytes,
            None
            if self.retention_rated_max_age is None
            else self.retention_rated_max_age.total_seconds(),
        )


@dataclass(frozen=True, slots=True)
class JsonlHealth:
    """What a :class:`JsonlStore` has seen: drops by reason, read problems, maintenance."""

    dropped: Mapping[str, int]
    read_problems: Mapping[str, int]
    segments: int
    bytes: int
    retention_deleted_segments: int
    retention_deleted_records: int
    writer_id: str = field(default="")

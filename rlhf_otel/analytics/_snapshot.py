"""A stable view of a store's segment files for the engine's lazy views.

DuckDB opens a view's files each time a statement reads it, while the store's own threads
(or another process) seal, compress and delete segments. A listed file that is gone by then
fails the statement. Hard links in the engine's private directory keep each listed file's
contents for the engine's lifetime, whatever the store does to the names.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Mapping
from typing import Final

__all__ = ["KINDS", "Listing", "snapshot_segments"]

KINDS: Final = ("interactions", "feedback")
ATTEMPTS: Final = 8
"""Listings tried before reading in place: each retry follows a file renamed or deleted
between listing and linking, which the store does about once per segment rotation."""

Listing = Mapping[str, list[str] | None]

_log = logging.getLogger("rlhf_otel.analytics")


def snapshot_segments(list_files: Callable[[], Listing], into: str) -> dict[str, list[str] | None]:
    """Each kind's segment files as hard links under ``into`` (created owner-only).

    ``list_files`` lists the store's segments now (``None`` for a kind: no files). A file
    renamed or deleted before its link is made starts the listing over. Where links cannot
    be made (another filesystem, or no link support), or the listing keeps changing, the
    files are read in place, as listed.
    """
    listed: dict[str, list[str] | None] = {}
    for attempt in range(ATTEMPTS):
        found = list_files()
        listed = {kind: found.get(kind) for kind in KINDS}
        if attempt:
            _clear(into)
        try:
            return {kind: _links(files, into, kind) for kind, files in listed.items()}
        except FileNotFoundError:
            continue  # sealed, compressed or deleted since the listing: list again
        except OSError as exc:
            _log.debug("rlhf-otel analytics: reading segments in place (%s)", exc)
            _clear(into)
            return listed
    _log.debug("rlhf-otel analytics: segments kept changing; reading them in place")
    _clear(into)
    return listed


def _links(files: list[str] | None, into: str, kind: str) -> list[str] | None:
    if files is None:
        return None
    os.makedirs(into, mode=0o700, exist_ok=True)
    out = []
    for n, path in enumerate(files):
        # numbered, so two directories' equal names stay apart; the suffix tells gzip
        link = os.path.join(into, f"{kind}-{n:06d}-{os.path.basename(path)}")
        os.link(path, link)
        out.append(link)
    return out


def _clear(into: str) -> None:
    shutil.rmtree(into, ignore_errors=True)

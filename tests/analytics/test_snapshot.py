"""The engine's hard-linked view of a store's segments."""

from __future__ import annotations

import stat
from pathlib import Path

from rlhf_otel.analytics._snapshot import snapshot_segments


def test_snapshot_lists_again_when_a_file_moves_before_its_link(tmp_path: Path) -> None:
    """A file gone between listing and linking makes a fresh listing; links are owner-only."""
    kept = tmp_path / "interactions-a.jsonl"
    kept.write_text("x\n")
    listings = [
        {"interactions": [str(tmp_path / "gone.jsonl")], "feedback": []},
        {"interactions": [str(kept)], "feedback": []},
    ]
    into = tmp_path / "links"
    got = snapshot_segments(lambda: listings.pop(0), str(into))
    assert listings == []
    assert [Path(p).read_text() for p in got["interactions"] or []] == ["x\n"]
    assert got["feedback"] == []
    assert stat.S_IMODE(into.stat().st_mode) == 0o700

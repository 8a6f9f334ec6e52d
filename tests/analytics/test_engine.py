"""The DuckDB engine and its views over JSONL segments and over any store."""

from __future__ import annotations

import gc
import gzip
import json
import os
import random
import stat
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from rlhf_otel.analytics import (
    FEEDBACK_COLUMNS,
    INTERACTION_COLUMNS,
    EngineConfig,
    fleiss_kappa,
    krippendorff_alpha,
    open_engine,
)
from rlhf_otel.export import export_feedback, get_analytics
from rlhf_otel.records import Feedback, FeedbackFilter, FeedbackType
from rlhf_otel.stores import JsonlStore, MemoryStore
from tests.feedback_data import T0, interaction, rating
from tests.guards import returns


def _store_with_segments(path: Path) -> JsonlStore:
    store = JsonlStore(path, compress=True, max_file_size_mb=0.05, fsync="none")
    for k in range(6):
        its = [interaction(f"i{k}-{n}", "p" * 200, "r" * 300, T0 + timedelta(seconds=n))
               for n in range(100)]  # fmt: skip
        fbs = [rating(f"f{k}-{n}", f"i{k}-{n}", 1 + n % 5, T0, user_id=f"u{n % 7}")
               for n in range(100)]  # fmt: skip
        store.write(its, fbs)
        store.flush(10)
    return store


def test_views_read_every_segment_plain_gzip_and_active(tmp_path: Path) -> None:
    """The views see every record of rotated gzip, plain and active segments, in write order."""
    store = _store_with_segments(tmp_path)
    try:
        names = os.listdir(tmp_path)
        assert any(n.endswith(".jsonl.gz") for n in names)
        assert any(n.endswith(".active.jsonl") for n in names)
        with open_engine(store) as eng:
            ids = [r[0] for r in eng.sql("SELECT id FROM interactions ORDER BY seq").fetchall()]
            assert ids == [it.id for it in store.scan_interactions()]
            assert len(ids) == 600
            rows = eng.sql("SELECT count(*), sum(rating), min(min_rating) FROM feedback")
            assert rows.fetchall() == [(600, 1800.0, 1.0)]
    finally:
        store.close()


def test_torn_line_is_skipped_and_the_rest_read(tmp_path: Path) -> None:
    """A torn final line (a crash) is skipped; every whole line around it is read."""
    good = {"schema_version": 1, "kind": "feedback", "id": "a", "interaction_id": "i",
            "type": "binary", "data": {"value": "thumbs_up"},
            "timestamp": "2025-01-01T00:00:00.000000Z"}  # fmt: skip
    lines = [json.dumps(good), json.dumps({**good, "id": "b"}), '{"schema_version": 1, "ki']
    name = "feedback-20250101T000000000000Z-0a1b2c3d-000001.jsonl"
    (tmp_path / name).write_text("\n".join(lines))
    gz = "feedback-20250101T000001000000Z-0a1b2c3d-000002.jsonl.gz"
    (tmp_path / gz).write_bytes(gzip.compress((json.dumps({**good, "id": "c"}) + "\n").encode()))
    with open_engine(JsonlStore(tmp_path)) as eng:
        got = eng.sql("SELECT id, value FROM feedback ORDER BY seq").fetchall()
    assert got == [("a", "thumbs_up"), ("b", "thumbs_up"), ("c", "thumbs_up")]


def _versions() -> list[Feedback]:
    first = Feedback(
        id="v1",
        interaction_id="i1",
        type=FeedbackType.RATING,
        data={"rating": 2, "max_rating": 5},
        timestamp=T0,
        user_id="u",
    )
    second = Feedback(id="v2", interaction_id="i1", type=FeedbackType.RATING,
                               data={"rating": 5, "max_rating": 5}, timestamp=T0, user_id="u",
                               supersedes="v1")  # fmt: skip
    other = rating("o1", "i1", 3, T0, user_id="w")
    return [first, second, other]


def test_superseded_feedback_does_not_count_over_arrow_batches() -> None:
    """A version named in another's ``supersedes`` is absent from ``feedback`` and figures."""
    store = MemoryStore()
    store.write([interaction("i1", "p", "r", T0)], _versions())
    with open_engine(store) as eng:
        assert eng.sql("SELECT id FROM feedback ORDER BY seq").fetchall() == [("v2",), ("o1",)]
        assert eng.sql("SELECT count(*) FROM feedback_versions").fetchall() == [(3,)]
    end = FeedbackFilter(end_time=T0 + timedelta(days=1))
    stats = get_analytics(store, end).stats
    assert (stats.total_feedback, stats.rating.average if stats.rating else None) == (2, 4.0)
    lines = export_feedback(store, "jsonl", include_interactions=False).splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["v2", "o1"]


def test_superseded_feedback_does_not_count_in_jsonl_segments(tmp_path: Path) -> None:
    """The same rule over JSONL lines; a line without ``supersedes`` reads it as null."""
    lines = []
    for fb in _versions():
        d = {"schema_version": 1, "kind": "feedback", "id": fb.id, "interaction_id": "i1",
             "type": "rating", "data": dict(fb.data), "timestamp": "2025-01-01T00:00:00Z",
             "user_id": fb.user_id}  # fmt: skip
        if fb.supersedes:
            d["supersedes"] = fb.supersedes
        lines.append(json.dumps(d))
    (tmp_path / "feedback-20250101T000000000000Z-0a1b2c3d-000001.jsonl").write_text(
        "\n".join(lines) + "\n"
    )
    with open_engine(JsonlStore(tmp_path)) as eng:
        got = eng.sql("SELECT id, supersedes FROM feedback ORDER BY seq").fetchall()
    assert got == [("v2", "v1"), ("o1", None)]


def test_engine_settings_and_private_spill_directory(tmp_path: Path) -> None:
    """Memory limit and threads apply; spill files go to a 0700 directory removed on close."""
    with open_engine(MemoryStore(), EngineConfig(memory_limit="256MB", threads=1,
                                                 temp_dir=str(tmp_path))) as eng:  # fmt: skip
        (private,) = os.listdir(tmp_path)
        assert stat.S_IMODE(os.stat(tmp_path / private).st_mode) == 0o700
        got = eng.sql(
            "SELECT current_setting('threads'), current_setting('temp_directory')"
        ).fetchall()
        assert got == [(1, str(tmp_path / private / "spill"))]
        (limit,) = eng.sql("SELECT current_setting('memory_limit')").fetchall()[0]
        assert limit.replace(" ", "") in ("244.1MiB", "256.0MB", "256MB")
    assert os.listdir(tmp_path) == []


def test_view_columns_are_documented() -> None:
    """Every column of both views has a description, and nothing undocumented is exposed."""
    with open_engine(MemoryStore()) as eng:
        its = [r[0] for r in eng.sql("DESCRIBE interactions").fetchall()]
        fbs = [r[0] for r in eng.sql("DESCRIBE feedback").fetchall()]
    assert its == list(INTERACTION_COLUMNS)
    assert fbs == list(FEEDBACK_COLUMNS)


def test_without_duckdb_one_line_says_what_to_install() -> None:
    """Without duckdb, analytics and exports raise one line naming the extra to install."""
    code = (
        "import sys; sys.modules['duckdb'] = None\n"
        "from rlhf_otel.export import export_feedback, get_analytics\n"
        "from rlhf_otel.analytics import AnalyticsUnavailableError\n"
        "from rlhf_otel.stores import MemoryStore\n"
        "for run in (lambda: get_analytics(MemoryStore()),\n"
        "            lambda: export_feedback(MemoryStore(), 'dpo')):\n"
        "    try:\n        run()\n"
        "    except AnalyticsUnavailableError as e:\n        print(isinstance(e, ImportError), e)\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True
    )
    expected = (
        "True analytics and exports need duckdb, which is not installed: "
        "pip install 'rlhf-otel[analytics]'"
    )
    assert done.stdout.splitlines() == [expected, expected]


@pytest.mark.slow
def test_agreement_scales_with_ratings_not_rater_pairs() -> None:
    """1,000 raters on 20,000 items (3-5 each): agreement equals the references (under a hang
    guard; the time per step is a benchmark row, not a test)."""
    rng = random.Random(5)
    store = MemoryStore(max_entries=None)
    fbs = []
    units: list[list[float]] = []
    n = 0
    for item in range(20_000):
        truth = rng.randint(1, 5)
        raters = rng.sample(range(1000), rng.randint(3, 5))
        values = [float(min(5, max(1, truth + rng.choice((-1, 0, 0, 1))))) for _ in raters]
        units.append(values)
        for r, v in zip(raters, values, strict=True):
            fbs.append(rating(f"f{n}", f"i{item}", int(v), T0, user_id=f"r{r}"))
            n += 1
    store.write([], fbs)
    result = returns(lambda: get_analytics(store, FeedbackFilter(end_time=T0 + timedelta(days=1))))
    (agree,) = result.agreement
    assert (agree.kind, agree.items, agree.raters, agree.values) == ("rating", 20_000, 1000, n)
    assert agree.krippendorff_alpha == pytest.approx(krippendorff_alpha(units, "interval"))
    assert agree.krippendorff_alpha_ordinal == pytest.approx(krippendorff_alpha(units, "ordinal"))
    from collections import Counter

    assert agree.fleiss_kappa == pytest.approx(fleiss_kappa(Counter(u) for u in units))


def test_views_outlive_compression_of_listed_segments(tmp_path: Path) -> None:
    """Segments compressed after the engine opened are still read, every record once."""
    store = JsonlStore(tmp_path, max_file_size_mb=0.05, fsync="none")
    for k in range(6):
        store.write(
            [interaction(f"i{k}-{n}", "p" * 200, "r" * 300, T0) for n in range(100)],
            [rating(f"f{k}-{n}", f"i{k}-{n}", 1 + n % 5, T0) for n in range(100)],
        )
    store.close()
    plain = [n for n in os.listdir(tmp_path) if n.endswith(".jsonl") and ".active" not in n]
    assert len(plain) >= 4
    with JsonlStore(tmp_path) as reader, open_engine(reader) as eng:
        compressor = JsonlStore(tmp_path, compress=True)  # compresses in the background
        try:
            deadline = time.monotonic() + 120  # a hang guard, not a timing assertion
            while any(n in os.listdir(tmp_path) for n in plain):
                assert time.monotonic() < deadline, "the store never compressed its segments"
                time.sleep(0.02)
        finally:
            compressor.close()
        got = eng.sql("SELECT count(*), count(DISTINCT id) FROM interactions").fetchall()
        assert got == [(600, 600)]
        assert eng.sql("SELECT sum(rating) FROM feedback").fetchall() == [(1800.0,)]


def test_engine_dropped_without_close_removes_its_directory(tmp_path: Path) -> None:
    """An engine garbage-collected without close() leaves no links or files behind."""
    store = _store_with_segments(tmp_path / "store")
    (tmp_path / "tmp").mkdir()
    try:
        eng = open_engine(store, EngineConfig(temp_dir=str(tmp_path / "tmp")))
        (private,) = os.listdir(tmp_path / "tmp")
        links = os.listdir(tmp_path / "tmp" / private / "segments")
        assert any(n.startswith("interactions-") for n in links)
        assert eng.sql("SELECT count(*) FROM interactions").fetchall() == [(600,)]
        del eng
        gc.collect()
        assert os.listdir(tmp_path / "tmp") == []
    finally:
        store.close()


def test_engine_closed_twice_or_collected_after_close_is_quiet(tmp_path: Path) -> None:
    """close() is idempotent and the collector finds nothing left to do after it."""
    eng = open_engine(MemoryStore(), EngineConfig(temp_dir=str(tmp_path)))
    eng.close()
    eng.close()
    assert os.listdir(tmp_path) == []
    del eng
    gc.collect()
    assert os.listdir(tmp_path) == []


def test_missing_temp_dir_is_created_owner_only(tmp_path: Path) -> None:
    """A temp_dir that does not exist yet is made (0700) instead of failing the command."""
    wanted = tmp_path / "spill" / "here"
    with open_engine(MemoryStore(), EngineConfig(temp_dir=str(wanted))) as eng:
        assert eng.sql("SELECT 1").fetchall() == [(1,)]
        assert stat.S_IMODE(os.stat(wanted).st_mode) == 0o700
    assert os.listdir(wanted) == []


def test_engine_still_open_at_interpreter_exit_removes_its_directory(tmp_path: Path) -> None:
    """A process that exits with an engine open (never closed, still referenced) leaves none."""
    code = (
        "import sys\n"
        "from rlhf_otel.analytics import EngineConfig, open_engine\n"
        "from rlhf_otel.stores import MemoryStore\n"
        "KEPT = open_engine(MemoryStore(), EngineConfig(temp_dir=sys.argv[1]))\n"
        "print(KEPT.sql('SELECT 42').fetchall()[0][0])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "42"
    assert os.listdir(tmp_path) == []

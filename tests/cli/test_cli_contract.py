"""The CLI keeps its documented contract: filters honoured, bad values refused with exit 2,
writing failures exit 1, help on every option, demo never mixes into a store silently."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from rlhf_otel import Feedback, FeedbackType, Interaction
from rlhf_otel.cli._commands import OneLineErrorParser, register
from rlhf_otel.cli._main import build_parser
from rlhf_otel.stores import MemoryStore
from tests.cli.conftest import cli
from tests.feedback_data import Dataset, generate


@pytest.fixture(scope="module")
def data() -> Dataset:
    return generate(seed=9, n_prompts=24)


def run(store: MemoryStore, argv: list[str]) -> int:
    parser = OneLineErrorParser(prog="rlhf-otel")
    register(parser.add_subparsers(dest="command", required=True), store_opener=lambda a: store)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def _model_of(data: Dataset) -> dict[str, str | None]:
    return {it.id: it.model for it in data.interactions}


def test_query_model_filters_feedback_by_its_interactions_model(
    data: Dataset, capsys: pytest.CaptureFixture[str]
) -> None:
    """query --model M lists only feedback on M's interactions (any target of a comparison)."""
    model_of = _model_of(data)
    expected = [
        f.id
        for f in data.feedback
        if any(model_of.get(t) == "beta" for t in (f.interaction_id, *f.target_ids))
    ]
    assert 0 < len(expected) < len(data.feedback)
    assert run(data.store, ["query", "--model", "beta", "--limit", "10000", "--json"]) == 0
    got = [json.loads(x)["id"] for x in capsys.readouterr().out.splitlines()]
    assert got == expected
    assert (
        run(data.store, ["query", "--model", "beta", "--limit", "5", "--offset", "3", "--json"])
        == 0
    )
    page = [json.loads(x)["id"] for x in capsys.readouterr().out.splitlines()]
    assert page == expected[3:8]
    assert run(data.store, ["query", "--model", "no-such-model", "--json"]) == 0
    assert capsys.readouterr().out == ""


def test_query_refuses_a_malformed_interaction_id(capsys: pytest.CaptureFixture[str]) -> None:
    """--interaction 'not a valid id!' exits 2 with one line naming what is allowed."""
    with pytest.raises(SystemExit) as exc:
        run(MemoryStore(), ["query", "--interaction", "not a valid id!"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "argument --interaction: interaction id 'not a valid id!' is malformed" in err


def test_query_rating_bounds_that_exclude_everything_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--min-rating 5 --max-rating 1 exits 2 with a message instead of an empty result."""
    assert run(MemoryStore(), ["query", "--min-rating", "5", "--max-rating", "1"]) == 2
    assert capsys.readouterr().err == (
        "rlhf-otel: error: --min-rating 5 is above --max-rating 1: nothing can match\n"
    )


def test_query_says_when_more_rows_exist(data: Dataset, capsys: pytest.CaptureFixture[str]) -> None:
    """Beyond --limit, stderr says which rows were shown and how to see the next ones."""
    assert run(data.store, ["query", "--limit", "20"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 22
    assert captured.err == (
        "rlhf-otel: showing rows 1-20; more match: --offset 20 for the next ones, "
        "or a larger --limit\n"
    )
    assert run(data.store, ["query", "--kind", "interactions", "--offset", "70"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2 + 2
    assert captured.err == ""


def test_report_into_a_missing_directory_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """report --out into a directory that does not exist is a writing failure: exit 1."""
    out = tmp_path / "no" / "r.html"
    assert run(MemoryStore(), ["report", "--out", str(out)]) == 1
    assert capsys.readouterr().err == (
        f"rlhf-otel: error: cannot write {out}: directory {out.parent} does not exist\n"
    )


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_every_option_has_help() -> None:
    """Every option of demo, stats, export, query and report says what it does."""
    subs = _subcommands(build_parser())
    missing = []
    for name in ("demo", "stats", "export", "query", "report"):
        for action in subs[name]._actions:
            if not action.help or not action.help.strip():
                missing.append(f"{name} {'/'.join(action.option_strings)}")
    assert missing == []


def _one_prompt_many_answers(n: int) -> MemoryStore:
    """One prompt answered n times, each answer rated differently on a 1..1000 scale."""
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    its = [
        Interaction(id=f"i{k}", prompt="same prompt", response=f"answer {k}",
                    timestamp=t0 + timedelta(seconds=k), model="m")
        for k in range(n)
    ]  # fmt: skip
    fbs = [
        Feedback(id=f"f{k}", interaction_id=f"i{k}", type=FeedbackType.RATING,
                 data={"rating": k + 1, "min_rating": 1, "max_rating": 1000, "comment": None},
                 timestamp=t0 + timedelta(seconds=k), target_ids=(f"i{k}",))
        for k in range(n)
    ]  # fmt: skip
    store = MemoryStore(max_entries=None)
    store.write(its, fbs)
    return store


def test_export_caps_dpo_pairs_per_prompt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """export --max-pairs-per-prompt N keeps N pairs per prompt and counts the rest."""
    store = _one_prompt_many_answers(10)
    out = tmp_path / "pairs.jsonl"
    argv = ["export", "--format", "dpo", "--out", str(out), "--json", "--max-pairs-per-prompt", "4"]
    assert run(store, argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["rows"], report["skipped"]) == (4, {"max_pairs_per_prompt": 41})
    assert len(out.read_text(encoding="utf-8").splitlines()) == 4
    with pytest.raises(SystemExit):
        run(store, [*argv[:-1], "0"])
    assert "is not a whole number >= 1" in capsys.readouterr().err


def test_dpo_export_shows_progress_while_pairing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Pairing 150 answers (11,175 pairs from 300 records read) reports rows as it goes."""
    store = _one_prompt_many_answers(150)
    out = tmp_path / "pairs.jsonl"
    assert run(store, ["export", "--format", "dpo", "--out", str(out), "--progress"]) == 0
    err = capsys.readouterr().err
    assert "\rexport dpo: 10,000 rows written" in err
    assert err.endswith("export dpo: 11,175 rows written\n")


def test_demo_twice_refuses_to_mix_into_a_store(tmp_path: Path) -> None:
    """A second demo into the same directory exits 2 and says how to proceed; --append adds."""
    data = str(tmp_path / "demo-data")
    first = cli("demo", "--data-dir", data, "--conversations", "3", "--json")
    assert first.returncode == 0
    doc = json.loads(first.stdout)
    assert doc["store"] == f"created a new store in {data}"
    once = doc["stats"]["total_interactions"]
    assert once > 0
    files = sorted(p.name for p in Path(data).iterdir())
    second = cli("demo", "--data-dir", data, "--conversations", "3")
    assert second.returncode == 2
    assert second.stdout == ""
    assert second.stderr == (
        f"rlhf-otel: error: {data} is not empty ({len(files)} files): pass --append to add "
        "the demo's records to that store, or --data-dir NEW_DIR\n"
    )
    assert sorted(p.name for p in Path(data).iterdir()) == files
    third = cli("demo", "--data-dir", data, "--conversations", "3", "--append")
    assert third.returncode == 0
    assert f"3 simulated conversations, appended to the store in {data}" in third.stdout
    stats = json.loads(cli("stats", "--data-dir", data, "--json").stdout)
    assert stats["total_interactions"] == 2 * once

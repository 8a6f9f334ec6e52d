"""Training sets (DPO, reward, KTO, SFT) load with `datasets` and hold exactly the right rows."""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any

import pytest

from rlhf_otel.export import ExportOptions, TrainingOptions, export_feedback, iter_training_rows
from rlhf_otel.stores import JsonlStore, MemoryStore
from tests.feedback_data import T0, compare, interaction, multi, rating, thumbs

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
datasets = pytest.importorskip("datasets")

CTX = ({"role": "system", "content": "be brief"},)


def _store(with_context: bool = True) -> MemoryStore:
    store = MemoryStore(max_entries=None)
    its = [
        interaction("a1", "What is 2+2?", "4", T0, model="m1"),
        interaction("a2", "What is 2+2?", "5", T0, model="m2"),
        interaction("a3", "What is 2+2?", "four", T0, model="m3"),
        interaction("b1", "Capital of France?", "Paris", T0, context=CTX if with_context else ()),
        interaction("b2", "Capital of France?", "Lyon", T0, context=CTX if with_context else ()),
        interaction("c1", "Say hi", "hi", T0),
        interaction("c2", "Say hi", "hello", T0),
        interaction("d1", "Name a color", "red", T0),
        interaction("e1", "Other prompt", "other", T0),
        interaction("g1", "Explain X", "X is a letter.", T0),
        interaction("g2", "Explain X", "No idea.", T0),
    ]
    fbs = [
        compare("k1", "a1", ["a2", "a3"], T0, 0.9, user_id="ann"),
        compare("k2", "b1", ["e1"], T0, user_id="ann"),
        compare("k3", "a1", ["zzz"], T0, user_id="bob"),
        rating("r1", "a1", 5, T0, user_id="bob"),
        rating("r2", "a2", 1, T0, user_id="bob"),
        rating("r3", "a3", 3, T0, user_id="bob"),
        thumbs("t1", "b1", True, T0, user_id="ann"),
        thumbs("t2", "b2", False, T0, user_id="ann"),
        rating("r4", "c1", 4, T0, user_id="bob"),
        rating("r5", "c2", 7, T0, max_rating=9, user_id="bob"),
        rating("r6", "d1", 5, T0, user_id="bob"),
        multi("m1", "g1", {"acc": 5, "clarity": 3}, T0, {"acc": 0.5, "clarity": 0.5}),
        multi("m2", "g2", {"acc": 2, "clarity": 2}, T0),
    ]
    store.write(its, fbs)
    return store


def _user(text: str, conv: bool, ctx: bool = False) -> Any:
    return [*(CTX if ctx else ()), {"role": "user", "content": text}] if conv else text


def _bot(text: str, conv: bool) -> Any:
    return [{"role": "assistant", "content": text}] if conv else text


def _pairs(conv: bool) -> list[dict[str, Any]]:
    raw = [
        ("What is 2+2?", "4", "5", False),
        ("What is 2+2?", "4", "four", False),
        ("What is 2+2?", "four", "5", False),
        ("Capital of France?", "Paris", "Lyon", True),
        ("Explain X", "X is a letter.", "No idea.", False),
    ]
    return [
        {"prompt": _user(p, conv, ctx), "chosen": _bot(c, conv), "rejected": _bot(r, conv)}
        for p, c, r, ctx in raw
    ]


MARGINS = [0.9, 0.9, 0.5, 1.0, 2.0]


def _load(path: Path, kind: str, tmp_path: Path) -> list[dict[str, Any]]:
    ds = datasets.load_dataset(
        kind, data_files=str(path), split="train", cache_dir=str(tmp_path / "hf-cache")
    )
    rows: list[dict[str, Any]] = ds.to_list()
    return rows


@pytest.mark.parametrize("container", ["jsonl", "parquet"])
def test_dpo_rows_load_with_datasets_conversational(tmp_path: Path, container: str) -> None:
    """DPO pairs: comparative first, then rating, thumbs and weighted-score pairs per prompt."""
    path = tmp_path / f"dpo.{container}"
    report = export_feedback(_store(), "dpo", out=path)
    kind = "json" if container == "jsonl" else "parquet"
    assert _load(path, kind, tmp_path) == _pairs(conv=True)
    assert report.rows == 5
    assert report.conversational is True
    assert dict(report.used) == {
        "comparative": 2, "rating": 1, "binary": 1, "multi_dimensional": 1,
    }  # fmt: skip
    assert report.to_dict()["skipped"] == {
        "different_prompts": 1,
        "duplicate_pair": 2,
        "interaction_not_found": 1,
        "no_other_response_for_prompt": 1,
        "tie": 1,
    }


def test_dpo_standard_form_without_context(tmp_path: Path) -> None:
    """Without any context the rows are plain strings (TRL's standard preference type)."""
    path = tmp_path / "dpo.jsonl"
    export_feedback(_store(with_context=False), "dpo", out=path)
    rows = _load(path, "json", tmp_path)
    expected = _pairs(conv=False)
    assert rows == expected


def test_reward_rows_carry_margins(tmp_path: Path) -> None:
    """Reward rows are the DPO pairs plus a margin from confidence or the score gap."""
    path = tmp_path / "reward.parquet"
    report = export_feedback(_store(), "reward", out=path)
    expected = [{**row, "margin": m} for row, m in zip(_pairs(True), MARGINS, strict=True)]
    assert _load(path, "parquet", tmp_path) == expected
    assert report.rows == 5


def test_kto_labels_from_thumbs_and_rating_thresholds(tmp_path: Path) -> None:
    """KTO: thumbs give labels, ratings at >= 0.75 or <= 0.25 of their scale do, 3/5 is skipped."""
    path = tmp_path / "kto.jsonl"
    report = export_feedback(
        _store(), "kto", out=path, training=TrainingOptions(conversational="never")
    )
    rows = _load(path, "json", tmp_path)
    assert rows == [
        {"prompt": "What is 2+2?", "completion": "4", "label": True},
        {"prompt": "What is 2+2?", "completion": "5", "label": False},
        {"prompt": "Capital of France?", "completion": "Paris", "label": True},
        {"prompt": "Capital of France?", "completion": "Lyon", "label": False},
        {"prompt": "Say hi", "completion": "hi", "label": True},
        {"prompt": "Say hi", "completion": "hello", "label": True},
        {"prompt": "Name a color", "completion": "red", "label": True},
    ]
    assert dict(report.used) == {"rating": 5, "binary": 2}
    assert report.to_dict()["skipped"] == {"ambiguous_score": 1}


def test_sft_keeps_well_rated_interactions_as_messages(tmp_path: Path) -> None:
    """SFT rows are chat messages (context, user, assistant) of well-rated interactions."""
    path = tmp_path / "sft.jsonl"
    report = export_feedback(_store(), "sft", out=path)
    rows = _load(path, "json", tmp_path)

    def conv(p: str, r: str, ctx: bool = False) -> dict[str, Any]:
        return {"messages": [*_user(p, True, ctx), {"role": "assistant", "content": r}]}

    assert rows == [
        conv("What is 2+2?", "4"), conv("Capital of France?", "Paris", ctx=True),
        conv("Say hi", "hi"), conv("Say hi", "hello"), conv("Name a color", "red"),
    ]  # fmt: skip
    assert report.to_dict()["skipped"] == {"not_well_rated": 3}


def test_pairs_never_mix_prompts_on_larger_generated_data() -> None:
    """On generated data every DPO pair's chosen and rejected answer the same prompt."""
    from tests.feedback_data import generate

    data = generate(seed=5, n_prompts=30)
    prompt_of = {i.response: (i.prompt, tuple(map(str, i.context))) for i in data.interactions}
    rows = iter_training_rows(data.store, "dpo", None)
    out = list(rows)
    assert len(out) == rows.report.rows > 30
    for row in out:
        chosen, rejected = row["chosen"][0]["content"], row["rejected"][0]["content"]
        assert prompt_of[chosen] == prompt_of[rejected]
        assert row["prompt"][-1]["content"] == prompt_of[chosen][0]


def test_limit_types_and_user_options_apply_to_training_sets() -> None:
    """limit truncates (and says so); feedback_types and user_id select the feedback used."""
    store = _store()
    limited = iter_training_rows(store, "dpo", ExportOptions(limit=2))
    assert len(list(limited)) == 2
    assert limited.report.truncated is True
    only_cmp = iter_training_rows(store, "dpo", ExportOptions(feedback_types=["comparative"]))
    assert [r["rejected"][0]["content"] for r in only_cmp] == ["5", "four"]
    bob = iter_training_rows(store, "kto", ExportOptions(user_id="bob"))
    assert [r["completion"] for r in bob] == ["4", "5", "hi", "hello", "red"]
    assert bob.conversational is False
    capped = iter_training_rows(
        store, "dpo", ExportOptions(training=TrainingOptions(pair_sources=["rating"]))
    )
    assert [(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in capped] == [
        ("4", "5"), ("4", "four"), ("four", "5"),
    ]  # fmt: skip


def test_training_export_returns_jsonl_text_in_memory() -> None:
    """Without out, a training export returns the JSONL text."""
    text = export_feedback(_store(), "sft")
    assert isinstance(text, str)
    assert len(text.splitlines()) == 5


def test_bad_training_options_are_refused() -> None:
    """Thresholds out of order, unknown pair sources and record formats are refused."""
    with pytest.raises(ValueError, match="negative_threshold < positive_threshold"):
        TrainingOptions(positive_threshold=0.2, negative_threshold=0.5)
    with pytest.raises(ValueError, match="pair_sources must be a non-empty subset"):
        TrainingOptions(pair_sources=["vibes"])
    with pytest.raises(ValueError, match="record format"):
        iter_training_rows(MemoryStore(), "csv")
    with pytest.raises(ValueError, match="container applies to training formats"):
        export_feedback(MemoryStore(), "csv", container="parquet")


def test_half_read_rows_dropped_without_close_leave_no_engine_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows read part-way and then dropped release the engine's private directory."""
    monkeypatch.setenv("RLHF_OTEL_ANALYTICS_TEMP_DIR", str(tmp_path))
    rows = iter_training_rows(_store(), "dpo", None)
    next(rows)
    assert len(os.listdir(tmp_path)) == 1
    del rows
    gc.collect()
    assert os.listdir(tmp_path) == []


def test_interaction_stored_twice_gives_its_first_copy_texts(tmp_path: Path) -> None:
    """An interaction id stored twice gives DPO, KTO and SFT rows its first copy's texts, once."""
    with JsonlStore(tmp_path / "store") as store:
        store.write(
            [interaction("a1", "What is 2+2?", "4", T0), interaction("a2", "What is 2+2?", "5", T0),
             interaction("c1", "Say hi", "hi", T0)],
            [rating("r1", "a1", 5, T0, user_id="bob"), rating("r2", "a2", 1, T0, user_id="bob"),
             rating("r3", "c1", 5, T0, user_id="bob")],
        )  # fmt: skip
        store.write(
            [interaction("a1", "What is 3+3?", "6", T0), interaction("c1", "Say bye", "bye", T0)],
            [],
        )
        dpo = list(iter_training_rows(store, "dpo"))
        kto = list(iter_training_rows(store, "kto"))
        sft = list(iter_training_rows(store, "sft"))
    assert dpo == [{"prompt": "What is 2+2?", "chosen": "4", "rejected": "5"}]
    assert kto == [
        {"prompt": "What is 2+2?", "completion": "4", "label": True},
        {"prompt": "What is 2+2?", "completion": "5", "label": False},
        {"prompt": "Say hi", "completion": "hi", "label": True},
    ]
    assert [r["messages"][-1]["content"] for r in sft] == ["4", "hi"]

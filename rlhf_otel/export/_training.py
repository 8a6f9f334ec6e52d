"""Training sets from feedback: DPO / reward pairs, KTO labels, SFT conversations.

Rows match the dataset types Hugging Face TRL's trainers read: preference
(``prompt``/``chosen``/``rejected``, plus ``margin`` for reward models), unpaired preference
(``prompt``/``completion``/``label``) and conversational language modelling (``messages``).
"""

from __future__ import annotations

import array
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from rlhf_otel._errors import ValidationError
from rlhf_otel.export._corrections import Corrections
from rlhf_otel.export._options import (
    TRAINING_FORMATS,
    ExportOptions,
    ExportReport,
    ProgressCallback,
    coerce_format,
)
from rlhf_otel.export._records import PROGRESS_EVERY
from rlhf_otel.records import (
    ExportFormat,
    FeedbackFilter,
    FeedbackType,
    normalized_rating,
    weighted_score,
)
from rlhf_otel.stores import Store

__all__ = ["TrainingRows", "iter_training_rows"]

# Text feedback is read for its ``correction`` (a reviewer's better answer) only.
_TYPES_FOR: Final = {
    ExportFormat.DPO: frozenset(FeedbackType),
    ExportFormat.REWARD: frozenset(FeedbackType),
    ExportFormat.KTO: frozenset({FeedbackType.BINARY, FeedbackType.RATING}),
    ExportFormat.SFT: frozenset({FeedbackType.BINARY, FeedbackType.RATING, FeedbackType.TEXT}),
}
Message = dict[str, str]


@dataclass(slots=True)
class _Signals:
    """Per-interaction sums of each score kind."""

    rating_sum: float = 0.0
    rating_n: int = 0
    binary_sum: float = 0.0
    binary_n: int = 0
    multi_sum: float = 0.0
    multi_n: int = 0

    def mean(self, kind: str) -> float | None:
        if kind == "rating":
            return self.rating_sum / self.rating_n if self.rating_n else None
        if kind == "binary":
            return self.binary_sum / self.binary_n if self.binary_n else None
        return self.multi_sum / self.multi_n if self.multi_n else None

    def satisfaction(self) -> float | None:
        n = self.rating_n + self.binary_n
        return (self.rating_sum + self.binary_sum) / n if n else None

    def sources(self) -> str:
        kinds = [k for k, n in (("binary", self.binary_n), ("rating", self.rating_n)) if n]
        return "+".join(kinds)


class _Spill:
    """Texts kept in an unnamed temporary file, read back by position: memory stays small."""

    def __init__(self) -> None:
        # Owned by the rows iterator, which closes it when exhausted or discarded.
        self._file = tempfile.TemporaryFile()  # noqa: SIM115
        self._fd = self._file.fileno()
        # Text ``h`` spans bytes offsets[h]..offsets[h + 1]; bytes past ``_written`` are
        # still in ``_buf``.
        self._offsets = array.array("q", [0])
        self._written = 0
        self._buf = bytearray()

    def add(self, text: str) -> int:
        buf = self._buf
        buf += text.encode("utf-8")
        self._offsets.append(self._written + len(buf))
        if len(buf) > 1 << 20:
            self._file.write(buf)
            self._file.flush()
            self._written += len(buf)
            buf.clear()
        return len(self._offsets) - 2

    def get(self, handle: int) -> str:
        start, end = self._offsets[handle], self._offsets[handle + 1]
        written = self._written
        if start >= written:
            return self._buf[start - written : end - written].decode("utf-8")
        return os.pread(self._fd, end - start, start).decode("utf-8")

    def close(self) -> None:
        self._file.close()


@dataclass(slots=True)
class _Resp:
    """What a training row needs of one interaction (its response text is spilled)."""

    id: str
    key: int
    text: int


@dataclass(slots=True)
class _Prompts:
    """Distinct (prompt, context) pairs, each stored once (text spilled, keyed by digest)."""

    spill: _Spill
    index: dict[bytes, int] = field(default_factory=dict)
    items: list[tuple[int, tuple[Message, ...]]] = field(default_factory=list)
    any_context: bool = False

    def key(self, prompt: str, context: Sequence[Mapping[str, Any]]) -> int:
        digest = hashlib.blake2b(prompt.encode("utf-8"), digest_size=16)
        if context:
            digest.update(b"\0" + json.dumps([dict(m) for m in context], sort_keys=True).encode())
        k = digest.digest()
        idx = self.index.get(k)
        if idx is None:
            idx = len(self.items)
            self.index[k] = idx
            msgs = tuple(_message(m) for m in context)
            self.items.append((self.spill.add(prompt), msgs))
            self.any_context = self.any_context or bool(msgs)
        return idx


def _message(m: Mapping[str, Any]) -> Message:
    content = m.get("content")
    text = content if isinstance(content, str) else ""
    return {"role": str(m.get("role", "user")), "content": text}


class TrainingRows:
    """An iterator of training rows whose :attr:`report` fills in as it is consumed.

    Reading happens when iteration starts: one pass over the selected feedback, one over
    the interactions, keeping only what the rows need (each distinct prompt once, and the
    response of each interaction that received usable feedback).
    """

    def __init__(
        self,
        store: Store,
        fmt: ExportFormat,
        opts: ExportOptions,
        progress: ProgressCallback | None = None,
    ) -> None:
        if fmt not in _TYPES_FOR:
            raise ValueError(f"{fmt.value} is not a training format")
        self.format = fmt
        self.report = ExportReport(format=fmt.value)
        self._store = store
        self._opts = opts
        self._progress = progress
        self._rows: Iterator[dict[str, Any]] | None = None
        self._conversational: bool | None = None
        self._spill_file: _Spill | None = None

    def __iter__(self) -> TrainingRows:
        return self

    def __next__(self) -> dict[str, Any]:
        if self._rows is None:
            self._rows = self._generate()
        return next(self._rows)

    @property
    def conversational(self) -> bool:
        """Whether rows are message lists; known once the first row was produced."""
        if self._conversational is None:
            self.prepare()
        assert self._conversational is not None
        return self._conversational

    def prepare(self) -> None:
        """Read the store now (iteration does it otherwise)."""
        if self._rows is None:
            self._rows = self._generate()
            first = next(self._rows, None)
            rest = self._rows
            self._rows = iter(()) if first is None else _chain(first, rest)

    # ------------------------------------------------------------------ reading

    def _tick(self) -> None:
        r = self.report
        if self._progress is not None and (r.interactions + r.feedback) % PROGRESS_EVERY == 0:
            self._progress(r.interactions + r.feedback)

    def _read(
        self,
    ) -> tuple[dict[str, _Signals], list[tuple[str, str, float | None]], dict[str, _Resp],
               list[_Resp], _Prompts, dict[str, int]]:  # fmt: skip
        opts = self._opts
        wanted = _TYPES_FOR[self.format]
        chosen = opts.types()
        types = sorted(wanted if chosen is None else wanted & set(chosen), key=lambda t: t.value)
        pair_sources = set(opts.training.pair_sources)
        signals: dict[str, _Signals] = {}
        comparisons: list[tuple[str, str, float | None]] = []
        corrections = Corrections()
        report = self.report
        flt = FeedbackFilter(
            start_time=opts.start_time,
            end_time=opts.end_time,
            types=types,
            user_id=opts.user_id,
            session_id=opts.session_id,
        )
        progress = self._progress
        for fb in self._store.scan_feedback(flt) if types else iter(()):
            report.feedback += 1
            if progress is not None:
                self._tick()
            t = fb.type
            d = fb.data
            if fb.supersedes:
                corrections.superseded.add(fb.supersedes)
            if t is FeedbackType.TEXT:
                if d.get("correction"):
                    ts = fb.timestamp.isoformat()
                    corrections.add(fb.interaction_id, ts, fb.id, str(d["correction"]))
                continue
            if t is FeedbackType.COMPARATIVE:
                if "comparative" not in pair_sources:
                    continue
                outcome = d.get("outcome") or "preferred"
                if outcome != "preferred":
                    # A tie or both-bad vote names no better response: no pair to learn.
                    report.skipped[f"comparison_{outcome}"] += 1
                    continue
                conf = d.get("confidence_level")
                conf = None if conf is None else float(conf)
                pref = str(d["preferred_response_id"])
                for other in d.get("compared_response_ids") or ():
                    if other == pref:
                        report.skipped["compared_with_itself"] += 1
                    else:
                        comparisons.append((pref, str(other), conf))
                continue
            sig = signals.get(fb.interaction_id)
            if sig is None:
                sig = signals[fb.interaction_id] = _Signals()
            if t is FeedbackType.BINARY:
                sig.binary_sum += 1.0 if d.get("value") == "thumbs_up" else 0.0
                sig.binary_n += 1
            elif t is FeedbackType.RATING:
                score = normalized_rating(d)
                if score is None:
                    report.skipped["unreadable_rating"] += 1
                else:
                    sig.rating_sum += score
                    sig.rating_n += 1
            elif t is FeedbackType.MULTI_DIMENSIONAL:
                score = weighted_score(d)
                if score is None:
                    report.skipped["unreadable_dimensions"] += 1
                else:
                    sig.multi_sum += score
                    sig.multi_n += 1
        fixed = corrections.resolve(self._spill) if corrections.latest else {}
        needed = set(signals) | set(fixed)
        for pref, other, _ in comparisons:
            needed.add(pref)
            needed.add(other)
        prompts = _Prompts(self._spill)
        by_id: dict[str, _Resp] = {}
        order: list[_Resp] = []
        if needed:
            prompt_key, spill_text = prompts.key, self._spill.add
            for it in self._store.scan_interactions():
                report.interactions += 1
                if progress is not None:
                    self._tick()
                iid = it.id
                if iid in needed and iid not in by_id:
                    resp = _Resp(iid, prompt_key(it.prompt, it.context), spill_text(it.response))
                    by_id[iid] = resp
                    order.append(resp)
        return signals, comparisons, by_id, order, prompts, fixed

    # ------------------------------------------------------------------ rows

    @property
    def _spill(self) -> _Spill:
        if self._spill_file is None:
            self._spill_file = _Spill()
        return self._spill_file

    def _generate(self) -> Iterator[dict[str, Any]]:
        try:
            yield from self._rows_of_format()
        finally:
            if self._spill_file is not None:
                self._spill_file.close()

    def _rows_of_format(self) -> Iterator[dict[str, Any]]:
        signals, comparisons, by_id, order, prompts, fixed = self._read()
        mode = self._opts.training.conversational
        conv = mode == "always" or (mode == "auto" and prompts.any_context)
        self._conversational = self.report.conversational = conv
        if self.format in (ExportFormat.DPO, ExportFormat.REWARD):
            rows = self._pairs(signals, comparisons, by_id, order, prompts, conv, fixed)
        elif self.format is ExportFormat.KTO:
            rows = self._kto(signals, by_id, order, prompts, conv)
        else:
            rows = self._sft(signals, by_id, order, prompts, fixed)
        limit = self._opts.limit
        for row in rows:
            if limit is not None and self.report.rows >= limit:
                self.report.truncated = True
                return
            self.report.rows += 1
            yield row

    def _prompt(self, prompts: _Prompts, key: int, conv: bool) -> Any:
        handle, context = prompts.items[key]
        prompt = self._spill.get(handle)
        if conv:
            return [*context, {"role": "user", "content": prompt}]
        return prompt

    @staticmethod
    def _completion(text: str, conv: bool) -> Any:
        return [{"role": "assistant", "content": text}] if conv else text

    def _texts(self, a: _Resp, b: _Resp) -> tuple[str, str] | None:
        """The two responses' texts, or ``None`` when they are the same text."""
        if a.text == b.text:
            return None
        get = self._spill.get
        text_a, text_b = get(a.text), get(b.text)
        return None if text_a == text_b else (text_a, text_b)

    def _pair_row(
        self, prompts: _Prompts, key: int, texts: tuple[str, str], margin: float, conv: bool
    ) -> dict[str, Any]:
        chosen, rejected = texts
        if conv:
            row: dict[str, Any] = {
                "prompt": self._prompt(prompts, key, conv),
                "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": rejected}],
            }
        else:
            row = {
                "prompt": self._prompt(prompts, key, conv),
                "chosen": chosen,
                "rejected": rejected,
            }
        if self.format is ExportFormat.REWARD:
            row["margin"] = margin
        return row

    def _pairs(
        self,
        signals: dict[str, _Signals],
        comparisons: list[tuple[str, str, float | None]],
        by_id: dict[str, _Resp],
        order: list[_Resp],
        prompts: _Prompts,
        conv: bool,
        fixed: dict[str, int],
    ) -> Iterator[dict[str, Any]]:
        skipped = self.report.skipped
        used = self.report.used
        seen: set[tuple[str, str]] = set()
        for resp in order:
            handle = fixed.get(resp.id)
            if handle is None:
                continue
            chosen, rejected = self._spill.get(handle), self._spill.get(resp.text)
            if chosen == rejected:
                skipped["correction_same_as_response"] += 1
                continue
            used["correction"] += 1
            yield self._pair_row(prompts, resp.key, (chosen, rejected), 1.0, conv)
        skipped["interaction_not_found"] += sum(
            1 for i in fixed if i not in by_id and i not in signals
        )
        for pref, other, conf in comparisons:
            a, b = by_id.get(pref), by_id.get(other)
            if a is None or b is None:
                skipped["interaction_not_found"] += 1
            elif a.key != b.key:
                skipped["different_prompts"] += 1
            elif (texts := self._texts(a, b)) is None:
                skipped["identical_responses"] += 1
            elif (pref, other) in seen or (other, pref) in seen:
                skipped["duplicate_pair"] += 1
            else:
                seen.add((pref, other))
                used["comparative"] += 1
                yield self._pair_row(prompts, a.key, texts, 1.0 if conf is None else conf, conv)
        kinds = [k for k in self._opts.training.pair_sources if k != "comparative"]
        if not kinds:
            return
        groups: dict[int, list[_Resp]] = {}
        for resp in order:
            if resp.id in signals:
                groups.setdefault(resp.key, []).append(resp)
        skipped["interaction_not_found"] += sum(1 for i in signals if i not in by_id)
        cap = self._opts.training.max_pairs_per_prompt
        for members in groups.values():
            if len(members) < 2:
                skipped["no_other_response_for_prompt"] += 1
                continue
            taken = 0
            for i, a in enumerate(members):
                for b in members[i + 1 :]:
                    outcome = _compare(signals[a.id], signals[b.id], kinds)
                    if outcome is None:
                        skipped["no_common_signal"] += 1
                        continue
                    kind, diff = outcome
                    if diff == 0:
                        skipped["tie"] += 1
                        continue
                    win, lose = (a, b) if diff > 0 else (b, a)
                    if (win.id, lose.id) in seen or (lose.id, win.id) in seen:
                        skipped["duplicate_pair"] += 1
                        continue
                    texts = self._texts(win, lose)
                    if texts is None:
                        skipped["identical_responses"] += 1
                        continue
                    if cap is not None and taken >= cap:
                        skipped["max_pairs_per_prompt"] += 1
                        continue
                    taken += 1
                    used[kind] += 1
                    yield self._pair_row(prompts, win.key, texts, abs(diff), conv)

    def _kto(
        self,
        signals: dict[str, _Signals],
        by_id: dict[str, _Resp],
        order: list[_Resp],
        prompts: _Prompts,
        conv: bool,
    ) -> Iterator[dict[str, Any]]:
        t = self._opts.training
        skipped = self.report.skipped
        skipped["interaction_not_found"] += sum(1 for i in signals if i not in by_id)
        for resp in order:
            sig = signals[resp.id]
            score = sig.satisfaction()
            if score is None:
                skipped["no_usable_feedback"] += 1
                continue
            if score >= t.positive_threshold:
                label = True
            elif score <= t.negative_threshold:
                label = False
            else:
                skipped["ambiguous_score"] += 1
                continue
            self.report.used[sig.sources()] += 1
            yield {
                "prompt": self._prompt(prompts, resp.key, conv),
                "completion": self._completion(self._spill.get(resp.text), conv),
                "label": label,
            }

    def _sft(
        self,
        signals: dict[str, _Signals],
        by_id: dict[str, _Resp],
        order: list[_Resp],
        prompts: _Prompts,
        fixed: dict[str, int],
    ) -> Iterator[dict[str, Any]]:
        t = self._opts.training
        skipped = self.report.skipped
        skipped["interaction_not_found"] += sum(1 for i in signals if i not in by_id)
        skipped["interaction_not_found"] += sum(
            1 for i in fixed if i not in by_id and i not in signals
        )
        empty = _Signals()
        for resp in order:
            handle = fixed.get(resp.id)
            if handle is not None:
                # A reviewer's correction is the answer to learn, whatever the scores say.
                self.report.used["correction"] += 1
                answer = {"role": "assistant", "content": self._spill.get(handle)}
                yield {"messages": [*self._prompt(prompts, resp.key, True), answer]}
                continue
            sig = signals.get(resp.id, empty)
            score = sig.satisfaction()
            if score is None:
                skipped["no_usable_feedback"] += 1
            elif score < t.positive_threshold:
                skipped["not_well_rated"] += 1
            else:
                self.report.used[sig.sources()] += 1
                answer = {"role": "assistant", "content": self._spill.get(resp.text)}
                yield {"messages": [*self._prompt(prompts, resp.key, True), answer]}


def _compare(a: _Signals, b: _Signals, kinds: list[str]) -> tuple[str, float] | None:
    """The first signal both have, and a's score minus b's on it."""
    for kind in kinds:
        x, y = a.mean(kind), b.mean(kind)
        if x is not None and y is not None:
            return kind, x - y
    return None


def _chain(first: dict[str, Any], rest: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield first
    yield from rest


def iter_training_rows(
    store: Store,
    format: ExportFormat | str,
    options: ExportOptions | None = None,
    *,
    progress: ProgressCallback | None = None,
) -> TrainingRows:
    """Training rows for ``format`` (``dpo``, ``kto``, ``reward``, ``sft``) as plain dicts.

    Example::

        rows = iter_training_rows(store, "dpo")
        dataset = datasets.Dataset.from_list(list(rows))
        print(rows.report.skipped)
    """
    fmt = coerce_format(format)
    if fmt not in TRAINING_FORMATS:
        raise ValidationError(
            f"{fmt.value} is a record format; training formats are dpo, kto, reward, sft"
        )
    return TrainingRows(store, fmt, options or ExportOptions(), progress)

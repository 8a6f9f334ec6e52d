"""The review service: items, leases, submissions as ordinary feedback, progress, agreement."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from rlhf_otel._errors import ValidationError
from rlhf_otel._logger import RLHFLogger
from rlhf_otel.records import Feedback, FeedbackFilter, FeedbackType, data_class, utc_now
from rlhf_otel.review._access import REVIEWER_NAME, ReviewerTokens
from rlhf_otel.review._actions import MAX_REASON_CHARS, SkipLog, find_items
from rlhf_otel.review._answers import plan_answers
from rlhf_otel.review._build import REVIEW_SOURCE, Item, build_queue, queue_funnel
from rlhf_otel.review._judge_agreement import JudgeFigures
from rlhf_otel.review._leases import Lease, LeaseBook, LeaseConflict
from rlhf_otel.review._spec import QueueSpec
from rlhf_otel.review._summary import queue_summary

__all__ = ["ReviewService"]

_REVIEWER: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}")
_SUBMISSION: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{7,63}")


class ReviewService:
    """One queue served to reviewers; every review is feedback logged through ``logger``.

    The queue is built from ``logger.store`` when the service starts, and what was already
    reviewed (review feedback naming this queue) is read back from it, so a restart loses
    nothing.

    Args:
        logger: where reviews are logged (and whose store the queue is built from).
        spec: the queue.
        token: shared reviewer token; when set, sign-in needs it.
        clock: monotonic seconds for leases.
        reviewers: per-reviewer tokens; when set, the token alone signs in and names the
            reviewer (what the page or a request body claims is ignored).
        user_header: trusted header naming the reviewer, set by a proxy you run in front
            (e.g. ``X-Forwarded-User``); when set, it alone names the reviewer.
        skip_log: file where skips and their undos are kept (``None``: memory only).
    """

    def __init__(
        self,
        logger: RLHFLogger,
        spec: QueueSpec,
        *,
        token: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        reviewers: ReviewerTokens | None = None,
        user_header: str | None = None,
        skip_log: str | Path | None = None,
    ) -> None:
        self.logger = logger
        self.store = logger.store
        self.spec = spec
        self.token = token
        self.reviewers = reviewers
        self.user_header = user_header.lower() if user_header else None
        self.skips = SkipLog(skip_log)
        self._actions: dict[str, list[tuple[str, str]]] = {}
        self._secret = secrets.token_bytes(32)
        started = time.perf_counter()
        items = build_queue(self.store, spec)
        self.build_seconds = time.perf_counter() - started
        self.book = LeaseBook(items, spec.reviewers_per_item, spec.lease_timeout, clock=clock)
        self.records: list[Feedback] = []
        self._latest: dict[tuple[str, str], dict[str, str]] = {}
        self._submissions: dict[str, dict[str, Any]] = {}
        self._summary: dict[str, Any] | None = None
        self._summary_lock = threading.Lock()
        self._judge_figures = JudgeFigures(self.store)
        self._funnel: list[dict[str, object]] | None = None
        self._restore()

    # ------------------------------------------------------------------ start

    def _restore(self) -> None:
        mine = []
        for fb in self.store.scan_feedback(FeedbackFilter(source=REVIEW_SOURCE)):
            if fb.metadata.get("queue") == self.spec.name and fb.user_id:
                mine.append(fb)
        mine.sort(key=lambda fb: (fb.timestamp, fb.id))
        for fb in mine:
            self._remember(fb)
            key = str(fb.metadata.get("item") or fb.interaction_id)
            self.book.restore(str(fb.user_id), key, _targets(fb))
        for entry in self.skips.read(self.spec.name):
            who, what = entry.get("reviewer"), entry.get("item")
            if isinstance(who, str) and isinstance(what, str):
                self.book.restore_skip(who, what, entry.get("action") == "skip")

    def _remember(self, fb: Feedback) -> None:
        self.records.append(fb)
        key = str(fb.metadata.get("item") or fb.interaction_id)
        self._latest.setdefault((str(fb.user_id), key), {})[fb.type.value] = fb.id
        sub = fb.metadata.get("submission")
        if isinstance(sub, str):
            self._submissions.setdefault(sub, {"item": key, "stored": True})
        self._summary = None

    # ------------------------------------------------------------------ sign-in

    @property
    def auth_mode(self) -> str:
        """How reviewers are named: ``proxy`` (trusted header), ``reviewers`` (their own
        tokens), ``shared`` (a name and the shared token) or ``open`` (a name)."""
        if self.user_header:
            return "proxy"
        if self.reviewers is not None:
            return "reviewers"
        return "shared" if self.token is not None else "open"

    def sign_in(self, reviewer: object, token: object) -> str:
        """A session for ``reviewer`` (checked against the shared token when one is set);
        with per-reviewer tokens the token names the reviewer and ``reviewer`` is ignored.

        Raises:
            PermissionError: the token is wrong.
            ValidationError: the name is not allowed.
        """
        if self.reviewers is not None:
            name = self.reviewers.reviewer_of(token)
            if name is None:
                raise PermissionError("wrong reviewer token")
            return self.session_for(name)
        if not isinstance(reviewer, str) or _REVIEWER.fullmatch(reviewer.strip()) is None:
            raise ValidationError(
                "reviewer name must be 1-64 of letters, digits, space . _ @ - starting with "
                "a letter or digit"
            )
        if self.token is not None and not (
            isinstance(token, str) and hmac.compare_digest(token.encode(), self.token.encode())
        ):
            raise PermissionError("wrong reviewer token")
        return self.session_for(reviewer.strip())

    def header_reviewer(self, value: str | None) -> str | None:
        """The reviewer a trusted proxy header names (``None``: missing or not allowed)."""
        if value is None or REVIEWER_NAME.fullmatch(value.strip()) is None:
            return None
        return value.strip()

    def session_for(self, name: str) -> str:
        """A session for reviewer ``name`` (after it was checked)."""
        sig = hmac.new(self._secret, name.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{sig}.{name}"

    def public_queue(self) -> dict[str, Any]:
        """The queue as the browser gets it (a blind queue names no model)."""
        out = self.spec.to_dict()
        if self.spec.blind:
            out["selection"]["models"] = []
        out["auth"] = self.auth_mode
        return out

    def funnel(self) -> list[dict[str, object]]:
        """What each selection condition removed (computed once, on first ask)."""
        if self._funnel is None:
            self._funnel = queue_funnel(self.store, self.spec)
        return self._funnel

    def reviewer_of(self, session: str) -> str | None:
        """The reviewer a session names, or ``None`` if it is not one of ours."""
        sig, _, name = session.partition(".")
        good = hmac.new(self._secret, name.encode(), hashlib.sha256).hexdigest()[:32]
        return name if name and hmac.compare_digest(sig, good) else None

    # ------------------------------------------------------------------ items

    def sides(self, reviewer: str, item: Item) -> tuple[str, str]:
        """The pair in the order this reviewer sees it (A, B): random per (reviewer, item),
        stable across reloads."""
        a, b = item.interaction_ids
        flip = hashlib.sha256(f"{reviewer}\0{item.key}".encode()).digest()[0] & 1
        return (b, a) if flip else (a, b)

    def view(self, reviewer: str, item: Item, *, reveal: bool = False) -> dict[str, Any]:
        """What the browser shows of ``item`` (model names of a pair only when ``reveal``;
        nobody else's feedback in blind mode)."""
        pos = self.book.pos[item.key]
        out: dict[str, Any] = {"key": item.key, "position": pos + 1}
        if self.spec.pairwise:
            ids = self.sides(reviewer, item)
            its = [self.store.get_interaction(i) for i in ids]
            first = its[0] or its[1]
            out.update(
                kind="pair",
                prompt=first.prompt if first else "",
                context=[dict(m) for m in first.context] if first else [],
                sides=[
                    {
                        "slot": slot,
                        "interaction_id": iid,
                        "response": it.response if it else "(answer not found in the store)",
                        **({"model": it.model if it else None} if reveal else {}),
                    }
                    for slot, iid, it in zip("AB", ids, its, strict=True)
                ],
            )
        else:
            iid = item.interaction_ids[0]
            it = self.store.get_interaction(iid)
            out.update(
                kind="single",
                interaction_id=iid,
                prompt=it.prompt if it else "",
                context=[dict(m) for m in it.context] if it else [],
                response=it.response if it else "(answer not found in the store)",
            )
            if reveal or not self.spec.blind:
                out["model"] = it.model if it else None
        if not self.spec.blind:
            out["feedback"] = self._others(reviewer, item)
        return out

    def _others(self, reviewer: str, item: Item) -> list[dict[str, Any]]:
        flt = FeedbackFilter(interaction_ids=list(item.interaction_ids))
        shown = []
        for fb in self.store.scan_feedback(flt):
            if fb.user_id == reviewer and fb.source == REVIEW_SOURCE:
                continue
            shown.append(
                {
                    "type": fb.type.value,
                    "user": fb.user_id,
                    "source": fb.source,
                    "data": {k: v for k, v in fb.data.items() if v is not None},
                }
            )
        return shown[:50]

    def next(self, reviewer: str, client: str, takeover: bool = False) -> dict[str, Any]:
        """The reviewer's current or next item, with its lease."""
        lease = self.book.next(reviewer, client, takeover=takeover)
        if lease is None:
            # Items other reviewers hold now may still come back to this one.
            out: dict[str, Any] = {
                "item": None,
                "lease": None,
                "waiting": self.book.remaining_for(reviewer),
            }
            if not self.book.items:
                out["funnel"] = self.funnel()
            return out
        return {"item": self.view(reviewer, lease.item), "lease": self._lease(lease)}

    def _lease(self, lease: Lease) -> dict[str, Any]:
        return {"id": lease.id, "seconds": self.spec.lease_timeout}

    def skip(self, reviewer: str, lease_id: str, reason: object = None) -> bool:
        """Hand the leased item back (the reviewer will not get it again) and keep the
        skip with its reason (at most 500 characters) in the skip log."""
        if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS):
            raise ValidationError(f"reason must be text of at most {MAX_REASON_CHARS} characters")
        item = self.book.skip(reviewer, lease_id)
        if item is None:
            return False
        self.skips.append(self.spec.name, reviewer, item.key, "skip", reason or None)
        self._actions.setdefault(reviewer, []).append(("skip", item.key))
        return True

    def undo(self, reviewer: str, client: str) -> dict[str, Any]:
        """Take back the reviewer's last skip or review of this run.

        A skip is withdrawn and the item leased to them again; a review opens for change
        (the next submission with ``revise`` supersedes it). ``{"undone": None}`` when
        there is nothing to undo.
        """
        done = self._actions.get(reviewer, [])
        if not done:
            return {"undone": None}
        action, key = done.pop()
        if action == "skip":
            lease = self.book.take(reviewer, client, key)
            self.skips.append(self.spec.name, reviewer, key, "undo", None)
            return {
                "undone": "skip",
                "item": self.view(reviewer, lease.item),
                "lease": self._lease(lease),
            }
        return {"undone": "review", **self.revisit(reviewer, key)}

    def open(self, reviewer: str, client: str, key: str) -> dict[str, Any]:
        """Lease item ``key`` now (picked from a search); a reviewed item opens for change."""
        if self.book.has_reviewed(reviewer, key):
            return {**self.revisit(reviewer, key), "lease": None}
        lease = self.book.take(reviewer, client, key)
        return {"item": self.view(reviewer, lease.item), "lease": self._lease(lease)}

    def find(self, reviewer: str, query: str = "", state: str = "") -> dict[str, Any]:
        """Items whose prompt or answers contain every word of ``query``, with their state
        for this reviewer (see :meth:`LeaseBook.status`), at most 100."""
        return find_items(self.store, self.book.items, self.book.status(reviewer), query, state)

    def reviewed(self, reviewer: str) -> list[str]:
        """Keys of the items ``reviewer`` reviewed, oldest first."""
        return [it.key for it in self.book.reviewed_by(reviewer)]

    def revisit(self, reviewer: str, key: str) -> dict[str, Any]:
        """An item the reviewer already reviewed, with their current answers (to change)."""
        if not self.book.has_reviewed(reviewer, key):
            raise LeaseConflict("not_reviewed", "you have not reviewed this item", key)
        item = self.book.items[self.book.pos[key]]
        answers: dict[str, Any] = {}
        by_id = {fb.id: fb for fb in self.records}
        for fid in self._latest.get((reviewer, key), {}).values():
            fb = by_id.get(fid)
            if fb is not None:
                answers.update(self._answer_of(reviewer, item, fb))
        return {"item": self.view(reviewer, item, reveal=True), "answers": answers}

    def _answer_of(self, reviewer: str, item: Item, fb: Feedback) -> dict[str, Any]:
        sides = self.sides(reviewer, item) if len(item.interaction_ids) == 2 else None
        return data_class(fb.type).form_answers(fb.data, sides)

    # ------------------------------------------------------------------ submit

    def submit(self, reviewer: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Log one review (a first one under a lease, or a change with ``revise``).

        Raises:
            ValidationError: the answers do not fit the rubric.
            LeaseConflict: stale lease, another tab, already reviewed, complete.
        """
        key, sub = body.get("item"), body.get("submission")
        if not isinstance(key, str):
            raise ValidationError("item must be the key of the item reviewed")
        if not isinstance(sub, str) or _SUBMISSION.fullmatch(sub) is None:
            raise ValidationError("submission must be 8-64 of A-Z a-z 0-9 - (a fresh id per try)")
        answers = body.get("answers")
        if not isinstance(answers, Mapping):
            raise ValidationError("answers must be an object")
        revise = body.get("revise") is True
        with self.book.lock:
            done = self._submissions.get(sub)
            if done is not None:
                if done["item"] != key:
                    raise ValidationError("this submission id was used for another item")
                return {**done, "repeated": True}
            if revise:
                if not self.book.has_reviewed_locked(reviewer, key):
                    raise LeaseConflict("not_reviewed", "you have not reviewed this item", key)
                pos = self.book.pos[key]
            else:
                lease_id = body.get("lease")
                pos = self.book.check_submit(
                    reviewer, key, lease_id if isinstance(lease_id, str) else None
                )
            item = self.book.items[pos]
            sides = self.sides(reviewer, item) if self.spec.pairwise else None
            plan = plan_answers(self.spec.rubric, sides, answers)
            ids = self._log(reviewer, item, sub, plan, revise)
            if not revise:
                self.book.commit(reviewer, pos)
                self._actions.setdefault(reviewer, []).append(("review", key))
            result: dict[str, Any] = {"item": key, "feedback_ids": ids, "revised": revise}
            if self.spec.pairwise:
                result["reveal"] = {
                    slot: (it.model if it else None)
                    for slot, it in zip(
                        "AB",
                        (self.store.get_interaction(i) for i in self.sides(reviewer, item)),
                        strict=True,
                    )
                }
            self._submissions[sub] = result
            return result

    def _log(
        self,
        reviewer: str,
        item: Item,
        sub: str,
        plan: list[tuple[FeedbackType, dict[str, Any]]],
        revise: bool,
    ) -> list[str]:
        latest = self._latest.get((reviewer, item.key), {}) if revise else {}
        meta: dict[str, Any] = {"queue": self.spec.name, "item": item.key, "submission": sub}
        if self.spec.pairwise:
            meta["sides"] = list(self.sides(reviewer, item))
        ids = []
        if revise:
            by_id = {fb.id: fb for fb in self.records if fb.id in latest.values()}
            # Only what changed is logged again; an unchanged answer keeps its version.
            plan = [
                (ftype, data)
                for ftype, data in plan
                if (old := by_id.get(latest.get(ftype.value, ""))) is None
                or any(old.data.get(k) != v for k, v in data.items() if v is not None)
            ]
        for ftype, data in plan:
            fid = f"{sub}.{ftype.value}"
            named = data_class(ftype).targets(data)
            target = named[0] if named else item.interaction_ids[0]
            self.logger.log_feedback(
                target,
                ftype,
                data,
                user_id=reviewer,
                source=REVIEW_SOURCE,
                metadata=meta,
                feedback_id=fid,
                supersedes=latest.get(ftype.value),
            )
            targets = (target,) if named is None else tuple(named)
            self._remember(
                Feedback(
                    id=fid,
                    interaction_id=target,
                    type=ftype,
                    data=data,
                    timestamp=utc_now(),
                    user_id=reviewer,
                    source=REVIEW_SOURCE,
                    metadata=meta,
                    target_ids=targets,
                    supersedes=latest.get(ftype.value),
                )
            )
            ids.append(fid)
        return ids

    # ------------------------------------------------------------------ progress

    def progress(self, reviewer: str | None = None) -> dict[str, Any]:
        """Queue progress, each reviewer's progress and throughput, and agreement."""
        with self._summary_lock:
            if self._summary is None:
                with self.book.lock:
                    records = list(self.records)
                self._summary = queue_summary(records)
            summary = self._summary
        out = {"queue": self.spec.name, **self.book.progress(), **summary}
        out["judges"] = self._judge_figures.rows()
        if not self.book.items:
            out["funnel"] = self.funnel()
        if reviewer is not None:
            out["me"] = {
                "reviewer": reviewer,
                "reviews": len(self.book.reviewed_by(reviewer)),
                "remaining": self.book.remaining_for(reviewer),
                **self.book.tally(reviewer),
            }
        return out


def _targets(fb: Feedback) -> tuple[str, ...]:
    item = fb.metadata.get("item")
    if isinstance(item, str) and "|" in item:
        return tuple(item.split("|"))
    return tuple(fb.target_ids) or (fb.interaction_id,)

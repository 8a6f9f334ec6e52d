"""Leases: which reviewer holds which item, for how long, and who has reviewed what.

An item is leased to one reviewer at a time; a reviewer never gets the same item twice
(not even after their own lease expired); an expired lease puts the item back for the
others. Thread-safe: every public method takes the book's lock.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from rlhf_otel.review._build import Item

__all__ = ["Lease", "LeaseBook", "LeaseConflict"]


class LeaseConflict(Exception):
    """A request that would lose or double-count work; ``code`` names the case.

    Codes: ``open_in_other_tab`` (the reviewer holds a lease from another tab),
    ``lease_expired`` (it expired and another reviewer has the item now),
    ``lease_moved`` (another tab took this lease over), ``already_reviewed`` (this reviewer
    already reviewed the item), ``item_complete`` (it has all the reviews it needs),
    ``not_leased`` (the item was never leased to this reviewer).
    """

    def __init__(self, code: str, detail: str, item: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.item = item


@dataclass(slots=True)
class Lease:
    """An item held by one reviewer (from one browser tab) until ``expires``."""

    id: str
    reviewer: str
    client: str
    pos: int
    item: Item
    granted: float
    expires: float


@dataclass(slots=True)
class _Reviewer:
    seen: set[int] = field(default_factory=set)
    done: list[int] = field(default_factory=list)
    skipped: dict[int, None] = field(default_factory=dict)
    low: int = 0
    lease: Lease | None = None


class LeaseBook:
    """The lease and review state of one queue (rebuilt from the store on restart).

    Args:
        items: the queue in hand-out order.
        per_item: reviews each item needs.
        timeout: seconds a lease lasts.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        items: Sequence[Item],
        per_item: int,
        timeout: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.items = list(items)
        self.pos = {it.key: i for i, it in enumerate(self.items)}
        self.per_item = per_item
        self.timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._done: dict[int, set[str]] = {}
        self._held: dict[int, Lease] = {}
        self._reviewers: dict[str, _Reviewer] = {}
        self._frontier = 0
        self._complete_count = 0
        self.expired = 0

    # ------------------------------------------------------------------ state

    def _reviewer(self, name: str) -> _Reviewer:
        r = self._reviewers.get(name)
        if r is None:
            r = self._reviewers[name] = _Reviewer()
        return r

    def _complete(self, pos: int) -> bool:
        return len(self._done.get(pos, ())) >= self.per_item

    def _live(self, pos: int, now: float) -> Lease | None:
        lease = self._held.get(pos)
        if lease is not None and lease.expires <= now:
            # Expired: the item goes back to the pool (never to the same reviewer).
            del self._held[pos]
            holder = self._reviewers.get(lease.reviewer)
            if holder is not None and holder.lease is lease:
                holder.lease = None
            self.expired += 1
            return None
        return lease

    def restore(self, reviewer: str, key: str, interaction_ids: Iterable[str]) -> None:
        """Mark ``key`` reviewed by ``reviewer`` (from the store, on start); an item the
        queue no longer selects is added at the end so its review still counts."""
        with self._lock:
            pos = self.pos.get(key)
            if pos is None:
                pos = self.pos[key] = len(self.items)
                self.items.append(Item(key, tuple(interaction_ids)))
            self._mark(reviewer, pos)

    # ------------------------------------------------------------------ leases

    def next(self, reviewer: str, client: str, *, takeover: bool = False) -> Lease | None:
        """The reviewer's lease: the one this tab holds, or a new item (``None``: nothing
        left for this reviewer).

        Raises:
            LeaseConflict: ``open_in_other_tab`` when another tab of this reviewer holds a
                live lease and ``takeover`` is false.
        """
        with self._lock:
            now = self._clock()
            r = self._reviewer(reviewer)
            cur = r.lease
            if cur is not None and self._live(cur.pos, now) is cur:
                if cur.client == client:
                    return cur
                if not takeover:
                    raise LeaseConflict(
                        "open_in_other_tab",
                        f"{reviewer} is reviewing item {cur.pos + 1} in another tab or "
                        "window; finish it there, or take it over here (nothing is lost "
                        "either way)",
                        cur.item.key,
                    )
                cur.client = client
                cur.id = secrets.token_hex(8)
                return cur
            r.lease = None
            return self._grant(r, reviewer, client, now)

    def _grant(self, r: _Reviewer, reviewer: str, client: str, now: float) -> Lease | None:
        n = len(self.items)
        while self._frontier < n and self._complete(self._frontier):
            self._frontier += 1
        r.low = max(r.low, self._frontier)
        while r.low < n and (r.low in r.seen or self._complete(r.low)):
            r.low += 1
        for pos in range(r.low, n):
            if pos in r.seen or self._complete(pos) or self._live(pos, now) is not None:
                continue
            lease = Lease(
                id=secrets.token_hex(8),
                reviewer=reviewer,
                client=client,
                pos=pos,
                item=self.items[pos],
                granted=now,
                expires=now + self.timeout,
            )
            self._held[pos] = lease
            r.lease = lease
            r.seen.add(pos)
            return lease
        return None

    def release(self, reviewer: str, lease_id: str) -> bool:
        """Give a leased item back unreviewed (a skip); the reviewer will not get it again."""
        return self.skip(reviewer, lease_id) is not None

    def skip(self, reviewer: str, lease_id: str) -> Item | None:
        """:meth:`release`, returning the item skipped (``None``: not this reviewer's lease)."""
        with self._lock:
            r = self._reviewer(reviewer)
            lease = r.lease
            if lease is None or lease.id != lease_id:
                return None
            r.lease = None
            if self._held.get(lease.pos) is lease:
                del self._held[lease.pos]
            r.skipped[lease.pos] = None
            return lease.item

    def restore_skip(self, reviewer: str, key: str, skipped: bool) -> None:
        """Replay a stored skip (or its undo) on start."""
        with self._lock:
            pos = self.pos.get(key)
            if pos is None:
                return
            r = self._reviewer(reviewer)
            if skipped and reviewer not in self._done.get(pos, ()):
                r.seen.add(pos)
                r.skipped[pos] = None
            elif not skipped and pos in r.skipped:
                del r.skipped[pos]
                r.seen.discard(pos)
                r.low = min(r.low, pos)

    def take(self, reviewer: str, client: str, key: str) -> Lease:
        """Lease item ``key`` to ``reviewer`` now (search, undo of a skip); a lease the
        reviewer held on another item goes back as if never handed out.

        Raises:
            LeaseConflict: ``already_reviewed``, ``item_complete``, ``held`` (another
                reviewer has it now) or ``not_leased`` (no such item).
        """
        with self._lock:
            pos = self.pos.get(key)
            if pos is None:
                raise LeaseConflict("not_leased", f"item {key!r} is not in this queue", key)
            now = self._clock()
            r = self._reviewer(reviewer)
            if reviewer in self._done.get(pos, ()):
                raise LeaseConflict(
                    "already_reviewed", "you already reviewed this item; change it with K", key
                )
            if self._complete(pos):
                raise LeaseConflict(
                    "item_complete", "this item already has all the reviews it needs", key
                )
            holder = self._live(pos, now)
            if holder is not None and holder.reviewer != reviewer:
                raise LeaseConflict("held", "another reviewer has this item open now", key)
            cur = r.lease
            if cur is not None and cur.pos != pos and self._live(cur.pos, now) is cur:
                del self._held[cur.pos]
                r.seen.discard(cur.pos)
                r.low = min(r.low, cur.pos)
            r.lease = None
            r.skipped.pop(pos, None)
            lease = Lease(
                id=secrets.token_hex(8),
                reviewer=reviewer,
                client=client,
                pos=pos,
                item=self.items[pos],
                granted=now,
                expires=now + self.timeout,
            )
            self._held[pos] = lease
            r.lease = lease
            r.seen.add(pos)
            return lease

    def status(self, reviewer: str) -> list[str]:
        """Per item, in queue order, what it is for ``reviewer``: ``done``, ``skipped``,
        ``open`` (their lease), ``passed`` (their lease expired), ``closed`` (complete
        without them), ``held`` (another reviewer has it now) or ``todo``."""
        with self._lock:
            now = self._clock()
            r = self._reviewers.get(reviewer) or _Reviewer()
            mine = set(r.done)
            cur = r.lease.pos if r.lease is not None and self._live(r.lease.pos, now) else None
            out = []
            for pos in range(len(self.items)):
                if pos in mine:
                    out.append("done")
                elif pos == cur:
                    out.append("open")
                elif pos in r.skipped:
                    out.append("skipped")
                elif pos in r.seen:
                    out.append("passed")
                elif self._complete(pos):
                    out.append("closed")
                elif self._live(pos, now) is not None:
                    out.append("held")
                else:
                    out.append("todo")
            return out

    def tally(self, reviewer: str) -> dict[str, int]:
        """:meth:`status` counted; the counts add up to the queue's items."""
        counts = dict.fromkeys(("done", "skipped", "open", "passed", "closed", "held", "todo"), 0)
        for state in self.status(reviewer):
            counts[state] += 1
        counts["items"] = sum(counts.values())
        return counts

    def check_submit(self, reviewer: str, key: str, lease_id: str | None) -> int:
        """The item's position if ``reviewer`` may submit a first review of it now.

        Raises:
            LeaseConflict: the submission would lose or double-count work.
        """
        pos = self.pos.get(key)
        if pos is None:
            raise LeaseConflict("not_leased", f"item {key!r} is not in this queue", key)
        now = self._clock()
        r = self._reviewer(reviewer)
        if reviewer in self._done.get(pos, ()):
            raise LeaseConflict(
                "already_reviewed",
                "you already reviewed this item (in another tab?); it was counted once. "
                "Go back with K to change your answer",
                key,
            )
        holder = self._live(pos, now)
        if holder is not None and holder.reviewer != reviewer:
            raise LeaseConflict(
                "lease_expired",
                f"your lease on this item expired after {self.timeout:g} s and it was given "
                "to another reviewer; this answer was not saved and nothing was counted. "
                "Press J for your next item",
                key,
            )
        if holder is not None and holder.id != lease_id:
            raise LeaseConflict(
                "lease_moved",
                "this item was taken over in another tab; submit it there (nothing was saved here)",
                key,
            )
        if pos not in r.seen:
            raise LeaseConflict("not_leased", "this item was not handed to you", key)
        if self._complete(pos):
            raise LeaseConflict(
                "item_complete",
                "this item already has all the reviews it needs; this answer was not saved. "
                "Press J for your next item",
                key,
            )
        return pos

    def _mark(self, reviewer: str, pos: int) -> _Reviewer:
        r = self._reviewer(reviewer)
        r.seen.add(pos)
        done = self._done.setdefault(pos, set())
        if reviewer not in done:
            done.add(reviewer)
            r.done.append(pos)
            if len(done) == self.per_item:
                self._complete_count += 1
        return r

    def commit(self, reviewer: str, pos: int) -> None:
        """Record a review of item ``pos`` by ``reviewer`` (after its feedback was logged)."""
        r = self._mark(reviewer, pos)
        lease = self._held.get(pos)
        if lease is not None and lease.reviewer == reviewer:
            del self._held[pos]
        if r.lease is not None and r.lease.pos == pos:
            r.lease = None

    @property
    def lock(self) -> threading.Lock:
        """Held around check, logging and commit, so two submissions cannot interleave."""
        return self._lock

    # ------------------------------------------------------------------ reads

    def reviewed_by(self, reviewer: str) -> list[Item]:
        """The items ``reviewer`` reviewed, oldest first."""
        with self._lock:
            r = self._reviewers.get(reviewer)
            return [] if r is None else [self.items[p] for p in r.done]

    def has_reviewed(self, reviewer: str, key: str) -> bool:
        """Whether ``reviewer`` reviewed item ``key``."""
        with self._lock:
            return self.has_reviewed_locked(reviewer, key)

    def has_reviewed_locked(self, reviewer: str, key: str) -> bool:
        """:meth:`has_reviewed` for a caller already holding :attr:`lock`."""
        pos = self.pos.get(key)
        return pos is not None and reviewer in self._done.get(pos, ())

    def progress(self) -> dict[str, int]:
        """Items in the queue, complete, with some reviews, leased now; reviews done and
        needed."""
        with self._lock:
            now = self._clock()
            leased = sum(1 for p in list(self._held) if self._live(p, now) is not None)
            reviews = sum(min(len(s), self.per_item) for s in self._done.values())
            return {
                "items": len(self.items),
                "complete": self._complete_count,
                "started": sum(1 for s in self._done.values() if s),
                "leased": leased,
                "reviews": reviews,
                "reviews_needed": len(self.items) * self.per_item,
                "expired_leases": self.expired,
            }

    def remaining_for(self, reviewer: str) -> int:
        """Items this reviewer could still be given (not complete, not seen by them)."""
        with self._lock:
            r = self._reviewers.get(reviewer)
            mine = 0 if r is None else sum(1 for p in r.seen if not self._complete(p))
            return len(self.items) - self._complete_count - mine

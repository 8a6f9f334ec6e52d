"""Leases: one reviewer at a time, never the same item twice, expiry, tabs, conflicts."""

from __future__ import annotations

import pytest

from rlhf_otel.review import Item, LeaseBook, LeaseConflict
from tests.review.support import Clock


def _book(n: int = 3, per_item: int = 2) -> tuple[LeaseBook, Clock]:
    clock = Clock()
    items = [Item(f"i{k}", (f"i{k}",)) for k in range(n)]
    return LeaseBook(items, per_item, 60, clock=clock), clock


def _submit(book: LeaseBook, reviewer: str, key: str, lease_id: str | None) -> None:
    with book.lock:
        pos = book.check_submit(reviewer, key, lease_id)
        book.commit(reviewer, pos)


def _key(book: LeaseBook, reviewer: str, client: str = "t") -> str | None:
    lease = book.next(reviewer, client)
    return None if lease is None else lease.item.key


def test_one_reviewer_at_a_time_and_never_twice() -> None:
    """An item is leased to one reviewer; each reviewer gets every item at most once."""
    book, _ = _book()
    a = book.next("a", "t")
    assert a is not None
    assert a.item.key == "i0"
    assert _key(book, "b") == "i1"  # i0 is leased to a
    _submit(book, "a", "i0", a.id)
    assert _key(book, "a") == "i2"  # i1 is leased to b; i0 is done by a
    lb = book.next("b", "t")
    assert lb is not None
    _submit(book, "b", "i1", lb.id)
    assert _key(book, "b") == "i0"
    got = {"a": ["i0"], "b": ["i1"]}  # i2 and i0 are their current leases
    for _ in range(6):
        for r in ("a", "b"):
            lease = book.next(r, "t")
            if lease is not None:
                got[r].append(lease.item.key)
                _submit(book, r, lease.item.key, lease.id)
    assert sorted(got["a"]) == sorted(set(got["a"])) == ["i0", "i1", "i2"]
    assert sorted(got["b"]) == sorted(set(got["b"])) == ["i0", "i1", "i2"]
    assert book.progress() == {
        "items": 3, "complete": 3, "started": 3, "leased": 0, "reviews": 6,
        "reviews_needed": 6, "expired_leases": 0,
    }  # fmt: skip


def test_expired_lease_comes_back_to_another_reviewer_only() -> None:
    """After the timeout the item goes to the next reviewer, never back to the same one."""
    book, clock = _book(n=1, per_item=1)
    first = book.next("a", "t")
    assert first is not None
    assert book.next("b", "t") is None  # leased
    clock.advance(61)
    assert book.next("a", "t") is None  # a had it once
    again = book.next("b", "t")
    assert again is not None
    assert again.item.key == "i0"
    assert book.progress()["expired_leases"] == 1
    with pytest.raises(LeaseConflict) as info:
        _submit(book, "a", "i0", first.id)  # the stale lease
    assert info.value.code == "lease_expired"
    _submit(book, "b", "i0", again.id)
    assert book.progress()["reviews"] == 1


def test_expired_lease_nobody_took_still_submits() -> None:
    """A late answer is accepted when no one else took the item meanwhile (nothing lost)."""
    book, clock = _book(n=1, per_item=1)
    lease = book.next("a", "t")
    assert lease is not None
    clock.advance(600)
    _submit(book, "a", "i0", lease.id)
    assert book.progress()["complete"] == 1


def test_second_tab_is_told_and_can_take_over() -> None:
    """Another tab gets open_in_other_tab; after a takeover the first tab's lease is moved."""
    book, _ = _book()
    tab1 = book.next("a", "tab1")
    assert tab1 is not None
    first_id = tab1.id
    assert book.next("a", "tab1") is tab1  # a reload of the same tab keeps its item
    with pytest.raises(LeaseConflict) as info:
        book.next("a", "tab2")
    assert info.value.code == "open_in_other_tab"
    assert "in another tab or window" in info.value.detail
    tab2 = book.next("a", "tab2", takeover=True)
    assert tab2 is not None
    assert tab2.item.key == "i0"
    assert tab2.id != first_id
    with pytest.raises(LeaseConflict) as moved:
        _submit(book, "a", "i0", first_id)
    assert moved.value.code == "lease_moved"
    _submit(book, "a", "i0", tab2.id)
    with pytest.raises(LeaseConflict) as twice:
        _submit(book, "a", "i0", tab2.id)
    assert twice.value.code == "already_reviewed"
    assert book.progress()["reviews"] == 1


def test_skip_gives_the_item_to_others() -> None:
    """A released item goes to the next reviewer; a complete item takes no more reviews."""
    book, _ = _book(n=1, per_item=1)
    lease = book.next("a", "t")
    assert lease is not None
    assert book.release("a", lease.id)
    assert book.next("a", "t") is None
    b = book.next("b", "t")
    assert b is not None
    _submit(book, "b", "i0", b.id)
    with pytest.raises(LeaseConflict) as info:
        _submit(book, "c", "i0", None)
    assert info.value.code == "not_leased"
    assert book.remaining_for("c") == 0

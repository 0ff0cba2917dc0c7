"""The compact ref tables behind the journal's index and a run's duplicate check."""

from __future__ import annotations

import gc
import sqlite3

import pytest

from gatepay_async._storage.refs import RefSet


class CollidingRef(str):
    """A ref whose hash is every other CollidingRef's: distinct refs, one hash."""

    def __hash__(self) -> int:
        return 0


def test_a_ref_set_holds_refs_not_their_hashes() -> None:
    refs = RefSet()
    first, second = CollidingRef("a"), CollidingRef("b")
    assert hash(first) == hash(second)
    assert refs.add(first)
    assert refs.add(second)  # one hash, two refs: both new
    assert not refs.add(CollidingRef("a"))
    assert not refs.add("a")  # the same text is the same ref, whatever its type


def test_a_ref_set_takes_any_str_and_tells_near_misses_apart() -> None:
    refs = RefSet()
    for ref in ["\udc80", "\udc81", "a\x00b", "a", "A", "a ", "é", "e\u0301", ""]:
        assert refs.add(ref), ref
        assert not refs.add(ref), ref


def test_a_dropped_ref_set_closes_its_database() -> None:
    # Closed, not left to the garbage collector (which warns from Python 3.13 on).
    refs = RefSet()
    database = refs._database
    del refs
    gc.collect()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        database.execute("SELECT 1")

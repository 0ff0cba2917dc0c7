"""The compact ref tables behind the journal's index and a run's duplicate check."""

from __future__ import annotations

import gc
import sqlite3
import subprocess
import sys

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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_refs_past_a_small_cache_leave_memory_flat() -> None:
    """The journal's index and a run's duplicate check hold every ref of the run: their
    pages past a small cache go to a temporary file, not to memory. Measured in a fresh
    interpreter by its peak RSS since its exec (``VmHWM``: ``ru_maxrss`` keeps the forking
    parent's); in an in-memory database 400,000 refs take
    about 35 bytes each (14 MB)."""
    script = (
        "def peak_kib():\n"
        "    with open('/proc/self/status') as status:\n"
        "        return next(int(l.split()[1]) for l in status if l.startswith('VmHWM:'))\n"
        "from gatepay_async._storage.refs import RefSet\n"
        "refs = RefSet()\n"
        "refs.add('warm')\n"
        "before = peak_kib()\n"
        "for number in range(400_000):\n"
        "    assert refs.add(f'row-{number:08d}-customer-order')\n"
        "grown = peak_kib() - before\n"
        "print(grown // 1024)\n"
    )
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300
    )
    grown_mb = int(done.stdout)
    assert grown_mb < 8, f"400,000 refs grew the peak RSS by {grown_mb} MB"

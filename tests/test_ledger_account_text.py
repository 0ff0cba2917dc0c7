"""Who may have written an old ledger row's joined account text: counted in bounded time.

``joined_writers`` walks every joint (`` client_id=``, `` on_behalf_of=``) of a text. A
slip in one of its loops (a search that does not move past the joint it found, a loop
condition that holds at -1) never ends and grows its list without bound, so the count is
checked under a limit of CPU time: such a slip fails here at once, not after a runner's
timeout with gigabytes of memory taken.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from types import FrameType

import pytest

from gatepay_async._storage.ledger_account import joined_writers

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="the CPU-time limit is a POSIX interval timer"
)


@contextlib.contextmanager
def cpu_seconds(limit: float) -> Iterator[None]:
    """Raise TimeoutError in the code inside once this process has spent ``limit``
    seconds of CPU on it (CPU time: a loaded machine's waits do not count)."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"still running after {limit} s of CPU")

    previous = signal.signal(signal.SIGPROF, stop)
    signal.setitimer(signal.ITIMER_PROF, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


@pytest.mark.parametrize(
    ("joined", "writers"),
    [
        ("no joint at all", 0),
        ("http://h client_id=m", 1),
        ("http://h client_id=m on_behalf_of=s", 2),
        ("http://h client_id=a client_id=b on_behalf_of=c on_behalf_of=d", 6),
        (" client_id=", 1),
        (" client_id= on_behalf_of= on_behalf_of=", 2),
    ],
)
def test_the_writers_of_any_text_are_counted_in_bounded_time(joined: str, writers: int) -> None:
    # Microseconds of work: half a second of CPU is only reached by a loop that never ends.
    with cpu_seconds(0.5):
        found = joined_writers(joined)
    assert len(found) == writers

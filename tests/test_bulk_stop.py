"""create_many's stop path on both facades: stop() takes no new rows and records the
requests in flight; abandon() records them as unknown; the sync facade's worker threads
are drained through Ctrl-C, so the journal is never closed under a running create."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import anyio
import pytest

from gatepay_async._bulk_models import BulkResult, BulkState
from gatepay_async._storage.journal import Journal
from gatepay_async.resources.bulk import INTERRUPTED_IN_THIS_RUN, AsyncBulkRun
from gatepay_sync.resources.bulk import BulkRun
from tests._async.conftest import mock_client
from tests._async.test_bulk import FakeGatePay, specs
from tests._sync.conftest import mock_client as mock_sync_client
from tests._sync.test_bulk import FakeGatePay as SyncFakeGatePay


def _journal_states(path: Path) -> dict[str, BulkState | None]:
    with Journal.open(path) as journal:
        return {ref: journal.state(ref) for ref in journal}


class StopAfter:
    """An ``on_progress`` callback that stops ``run`` once ``count`` results have come."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.run: AsyncBulkRun | BulkRun | None = None

    def __call__(self, result: BulkResult) -> None:
        self.count -= 1
        if self.count <= 0 and self.run is not None:
            self.run.stop()


async def _collect(run: AsyncBulkRun, block: bool) -> list[BulkResult]:
    """Every result of ``run``: inside its ``async with`` block, or (deprecated) without."""
    if not block:
        return [r async for r in run]
    async with run as results:
        return [r async for r in results]


def _collect_sync(run: BulkRun, block: bool) -> list[BulkResult]:
    if not block:
        return list(run)
    with run as results:
        return list(results)


#: Each test runs on the run's ``async with`` block and on the deprecated bare iteration.
SHAPES = pytest.mark.parametrize("block", [True, False], ids=["block", "bare"])


@pytest.mark.anyio
@SHAPES
async def test_stop_takes_no_new_rows_and_records_the_requests_in_flight(
    tmp_path: Path, block: bool
) -> None:
    fake = FakeGatePay(latency=0.02)
    results: list[BulkResult] = []
    progress = StopAfter(10)
    async with mock_client(fake.handler) as gp:
        run = progress.run = gp.gift_cards.create_many(
            specs(500), concurrency=4, journal=tmp_path / "j", on_progress=progress
        )
        results.extend(await _collect(run, block))  # ends normally, no exception
    assert run.stopping
    assert 10 <= len(fake.seen) < 500
    assert sorted(r.ref for r in results) == sorted(fake.seen)  # each sent create reported
    assert {r.state for r in results} == {BulkState.ISSUED}
    assert _journal_states(tmp_path / "j") == dict.fromkeys(fake.seen, BulkState.ISSUED)


@SHAPES
def test_sync_stop_from_a_worker_thread(tmp_path: Path, block: bool) -> None:
    fake = SyncFakeGatePay(latency=0.02)
    progress = StopAfter(10)
    with mock_sync_client(fake.handler) as gp:
        run = progress.run = gp.gift_cards.create_many(
            specs(500), concurrency=4, journal=tmp_path / "j", on_progress=progress
        )
        results = _collect_sync(run, block)
    assert 10 <= len(fake.seen) < 500
    assert sorted(r.ref for r in results) == sorted(fake.seen)
    assert _journal_states(tmp_path / "j") == dict.fromkeys(fake.seen, BulkState.ISSUED)


@pytest.mark.anyio
@SHAPES
async def test_abandon_records_the_requests_in_flight_as_unknown(
    tmp_path: Path, block: bool
) -> None:
    fake = FakeGatePay(latency=30.0)
    results: list[BulkResult] = []
    async with mock_client(fake.handler) as gp:
        run = gp.gift_cards.create_many(specs(50), concurrency=4, journal=tmp_path / "j")

        async def consume() -> None:
            results.extend(await _collect(run, block))

        with anyio.fail_after(10):  # far less than the latency: nothing waited for it
            async with anyio.create_task_group() as group:
                group.start_soon(consume)
                while run.in_flight < 4:  # noqa: ASYNC110 - a counter, no event to wait on
                    await anyio.sleep(0.01)
                run.stop()
                await anyio.wait_all_tasks_blocked()  # every task has acted on stop()
                assert run.in_flight == 4  # stop() waits for them...
                run.abandon()  # ...abandon() does not
    assert len(fake.seen) == 4
    assert sorted(r.ref for r in results) == sorted(fake.seen)
    for result in results:
        assert result.state is BulkState.UNKNOWN
        assert result.error == INTERRUPTED_IN_THIS_RUN
    assert _journal_states(tmp_path / "j") == dict.fromkeys(fake.seen, BulkState.UNKNOWN)


@SHAPES
def test_sync_ctrl_c_twice_never_closes_the_journal_under_a_running_create(
    tmp_path: Path, block: bool
) -> None:
    """The old pool gave up waiting on the second Ctrl-C and the journal was closed while
    worker threads still had answers to record: their cards' keys were dropped."""
    fake = SyncFakeGatePay(latency=1.0)
    path = tmp_path / "j"

    def interrupt() -> None:
        os.kill(os.getpid(), signal.SIGINT)

    timers = [threading.Timer(0.3, interrupt), threading.Timer(0.6, interrupt)]
    with mock_sync_client(fake.handler) as gp:
        run = gp.gift_cards.create_many(specs(50), concurrency=4, journal=path)
        for timer in timers:
            timer.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                _collect_sync(run, block)
        finally:
            for timer in timers:
                timer.join()
    assert len(fake.seen) == 4
    assert sorted(fake.issued) == sorted(fake.seen)
    # Every card issued has its outcome (and key) in the journal; the second Ctrl-C had
    # recorded them as unknown first, and the real answers replaced that.
    assert _journal_states(path) == dict.fromkeys(fake.seen, BulkState.ISSUED)
    records = path.read_text(encoding="utf-8")
    assert records.count('"op":"unknown"') == 4
    assert INTERRUPTED_IN_THIS_RUN in records


#: Run in a child process (a hang must not hang the test run): a sync create_many whose
#: main thread gets a Ctrl-C at the n-th Python call made while it starts the workers or
#: runs the reader's group commit (the fsync before results are handed out), for every n.
#: A real Ctrl-C is raised in the main thread at such a point (the start of a Python
#: function); a trace function raising there stands for it.
_CTRL_C_IN_THE_COMMIT = """
import sys
from pathlib import Path

from gatepay_async._bulk_models import BulkState
from gatepay_async._storage.journal import Journal
from gatepay_async._primitives.synchronization import TaskGroup
from gatepay_sync._storage.group_commit import GroupCommit
from gatepay_sync._bulk.worker_pool import WorkerPool
from gatepay_sync.resources.bulk import BulkIssuer
from tests._sync.conftest import mock_client
from tests._sync.test_bulk import FakeGatePay, specs

CALLERS = {
    GroupCommit.commit.__code__,
    TaskGroup.start_soon.__code__,
    WorkerPool.submit.__code__,
    BulkIssuer.__enter__.__code__,
}


def run(n, path):
    calls = [0]
    fired = []

    def tracer(frame, event, arg):
        if event == "call" and not fired:
            caller = frame.f_back
            if caller is not None and caller.f_code in CALLERS:
                calls[0] += 1
                if calls[0] == n:
                    fired.append(frame.f_code.co_name)
                    raise KeyboardInterrupt
        return None

    fake = FakeGatePay(latency=0.02)
    with mock_client(fake.handler) as gp:
        try:
            run = gp.gift_cards.create_many(specs(40), concurrency=4, journal=path)
            sys.settrace(tracer)
            with run as results:
                for _ in results:
                    pass
        except KeyboardInterrupt:
            pass
        finally:
            sys.settrace(None)
    with Journal.open(path) as journal:
        states = {ref: journal.state(ref) for ref in journal}
    assert states == dict.fromkeys(fake.issued, BulkState.ISSUED), (n, fired)
    return bool(fired)


n = 1
while run(n, Path(sys.argv[1]) / f"j{n}"):
    n += 1
print(n - 1)
"""


def test_sync_ctrl_c_anywhere_in_the_start_or_the_readers_fsync_never_hangs_the_run(
    tmp_path: Path,
) -> None:
    """A Ctrl-C that landed between taking a lock and releasing it (a lock, or a
    condition, left by a Python ``__exit__``), or between claiming the flush and setting
    its flag, left every worker thread waiting for ever, and the run waiting for them."""
    child = subprocess.run(  # noqa: S603 - our own code
        [sys.executable, "-c", _CTRL_C_IN_THE_COMMIT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    assert int(child.stdout) >= 3  # Ctrl-C was tried at several points of the commit


#: A Ctrl-C while the block starts its worker threads: in Thread.start of the fourth
#: while the first three are sending (the tracer waits for them). The start was counted down
#: although that thread ran anyway, so the block was left, and the journal closed, under
#: a running create whose card then had no outcome recorded.
_CTRL_C_WHILE_STARTING_WORKERS = """
import sys
import threading
import time
from pathlib import Path

from gatepay_async._bulk_models import BulkState
from gatepay_async._storage.journal import Journal
from tests._sync.conftest import mock_client
from tests._sync.test_bulk import FakeGatePay, specs

START = threading.Thread.start.__code__
starts = []


def tracer(frame, event, arg):
    caller = frame.f_back
    if event == "call" and caller is not None and caller.f_code is START:
        if frame.f_code.co_name == "wait":  # Thread.start waits for the thread to run
            starts.append(1)
            if len(starts) == 4:
                deadline = time.monotonic() + 30
                while fake.in_flight < 3 and time.monotonic() < deadline:
                    time.sleep(0.005)
                assert fake.in_flight >= 3, "the first three never sent"
                raise KeyboardInterrupt
    return None


fake = FakeGatePay(latency=0.5)
fake.delays["row-3"] = 1.5  # the last row sent is still in flight when the others end
path = Path(sys.argv[1])
with mock_client(fake.handler) as gp:
    run = gp.gift_cards.create_many(specs(40), concurrency=8, journal=path)
    sys.settrace(tracer)
    try:
        with run as results:
            sys.settrace(None)
            for _ in results:
                pass
    except KeyboardInterrupt:
        assert fake.in_flight == 0, "the block was left under a running create"
    finally:
        sys.settrace(None)
# A create the block was left under would end in its own time: let every thread end.
for thread in threading.enumerate():
    if thread is not threading.current_thread():
        thread.join(30)
with Journal.open(path) as journal:
    states = {ref: journal.state(ref) for ref in journal}
assert len(fake.issued) == 4, fake.issued
assert states == dict.fromkeys(fake.issued, BulkState.ISSUED), states
"""


def test_sync_ctrl_c_while_the_workers_start_leaves_the_block_only_after_every_send(
    tmp_path: Path,
) -> None:
    child = subprocess.run(  # noqa: S603 - our own code
        [sys.executable, "-c", _CTRL_C_WHILE_STARTING_WORKERS, str(tmp_path / "j")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-2000:]

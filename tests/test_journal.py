"""The bulk journal file, and the group commit that shares its fsyncs."""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import Any

import anyio
import pytest

from gatepay_async import BulkState, Journal, JournalError
from gatepay_async._bulk.plan import open_journal
from gatepay_async._bulk.worker_pool import AsyncWorkerPool
from gatepay_async._storage import journal as _journal
from gatepay_async._storage.group_commit import AsyncGroupCommit
from gatepay_async._wire.validation import build_create_request
from gatepay_sync._bulk.rate_limiter import RateLimiter
from gatepay_sync._bulk.worker_pool import WorkerPool
from gatepay_sync._storage.group_commit import GroupCommit

CARD = {
    "card_num": "GC0000000001",
    "card_key": "KEY-very-secret-0001",
    "amount": "1.5",
    "currency": "USDT",
    "status": 1,
}


def request(title: str = "t") -> object:
    return build_create_request(title=title, template_id="255", currency="USDT", amount="1.5")


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_new_journal_is_owner_only_and_starts_with_a_header(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal.open(path) as journal:
        assert len(journal) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert lines(path)[0]["op"] == "journal"


def test_an_existing_journal_readable_by_others_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text("", encoding="utf-8")
    path.chmod(0o644)
    Journal.open(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_records_give_states_and_cards_back(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal.open(path) as journal:
        journal.record_intent("a", request("a"))  # type: ignore[arg-type]
        journal.record_issued("a", CARD)
        journal.record_intent("b", request("b"))  # type: ignore[arg-type]
        journal.record_failed("b", "InvalidRequestError: nope")
        journal.record_intent("c", request("c"))  # type: ignore[arg-type]
        journal.record_unknown("c", "OutcomeUnknownError: lost")
        journal.record_intent("d", request("d"))  # type: ignore[arg-type]
        assert journal.state("a") is BulkState.ISSUED
        assert journal.state("zzz") is None
    with Journal.open(path) as reopened:
        assert reopened.state("a") is BulkState.ISSUED
        assert reopened.state("b") is BulkState.FAILED
        assert reopened.state("c") is BulkState.UNKNOWN
        assert reopened.state("d") is BulkState.UNKNOWN
        assert reopened.interrupted("d")
        assert not reopened.interrupted("c")
        entry = reopened.entry("a")
        assert entry is not None
        assert entry.card is not None
        assert entry.card.key == "KEY-very-secret-0001"
        assert entry.card.amount == Decimal("1.5")
        assert "KEY-very-secret-0001" not in repr(entry)
        failed = reopened.entry("b")
        assert failed is not None
        assert failed.error == "InvalidRequestError: nope"
        interrupted = reopened.entry("d")
        assert interrupted is not None
        assert interrupted.interrupted
        assert interrupted.error is not None
        assert "stopped before its answer" in interrupted.error
        assert reopened.counts() == {
            BulkState.ISSUED: 1,
            BulkState.FAILED: 1,
            BulkState.UNKNOWN: 2,
        }
        assert "KEY" not in repr(reopened)
    intent = next(record for record in lines(path) if record["op"] == "intent")
    assert intent == {
        "op": "intent",
        "ref": "a",
        "title": "a",
        "template_id": "255",
        "currency": "USDT",
        "amount": "1.5",
        "at": intent["at"],
    }


def test_a_torn_last_line_is_ignored_and_isolated(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal.open(path) as journal:
        journal.record_intent("a", request())  # type: ignore[arg-type]
    with path.open("ab") as handle:
        handle.write(b'{"op":"issued","ref":"a","card":{"card_n')  # killed mid-write
    with Journal.open(path) as journal:
        assert journal.state("a") is BulkState.UNKNOWN  # the outcome never landed
        journal.record_failed("b", "x")
    with Journal.open(path) as journal:
        assert journal.state("b") is BulkState.FAILED
    text = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(text[-1])["ref"] == "b"


def test_garbage_lines_are_skipped_and_issued_stays_issued(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    records = [
        {"op": "issued", "ref": "a", "card": CARD},
        "not json at all",
        {"op": "failed", "ref": "a", "error": "late noise"},
        {"op": "mystery", "ref": "b"},
        {"op": "failed", "ref": 7},
    ]
    text = "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n"
    path.write_text(text, encoding="utf-8")
    with Journal.open(path) as journal:
        assert journal.state("a") is BulkState.ISSUED
        assert journal.state("b") is None
        assert len(journal) == 1


def test_one_journal_one_run(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal.open(path)
    try:
        with pytest.raises(JournalError, match="in use"):
            Journal.open(path)
    finally:
        journal.close()
    journal.close()  # twice is harmless
    with pytest.raises(JournalError, match="closed"):
        journal.record_failed("a", "x")
    Journal.open(path).close()


def test_concurrent_writers_keep_every_line_whole(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal.open(path) as journal:

        def write(worker: int) -> None:
            for i in range(200):
                journal.record_failed(f"w{worker}-{i}", "x" * (i % 50))

        threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(journal) == 1600
        assert journal.entry("w3-199") is not None
    assert len(lines(path)) == 1601


# ------------------------------------------------------------------------ group commit


class SlowFlush:
    """A flush that takes a while and notes what it covered."""

    def __init__(self) -> None:
        self.calls = 0
        self.written = 0
        self.durable = 0
        self.lock = threading.Lock()

    def write(self) -> int:
        with self.lock:
            self.written += 1
            return self.written

    def __call__(self) -> None:
        with self.lock:
            self.calls += 1
            covered = self.written
        time.sleep(0.01)
        with self.lock:
            self.durable = max(self.durable, covered)


def test_group_commit_shares_flushes_between_threads() -> None:
    flush = SlowFlush()
    commit = GroupCommit(flush)
    failures: list[str] = []

    def writer() -> None:
        for _ in range(5):
            mine = flush.write()
            commit.commit()
            if flush.durable < mine:
                failures.append(f"write {mine} returned before it was flushed")

    threads = [threading.Thread(target=writer) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert flush.calls < 32 * 5 / 3  # far fewer flushes than commits


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_async_group_commit_shares_flushes_between_tasks(backend: str) -> None:
    flush = SlowFlush()
    commit = AsyncGroupCommit(flush)
    failures: list[str] = []

    async def writer() -> None:
        for _ in range(5):
            mine = flush.write()
            await commit.commit()
            if flush.durable < mine:
                failures.append(f"write {mine} returned before it was flushed")

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(32):
                group.start_soon(writer)

    anyio.run(main, backend=backend)
    assert failures == []
    assert flush.calls < 32 * 5 / 3


def test_a_failed_flush_raises_in_the_committer_and_the_next_one_retries() -> None:
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("disk full")

    commit = GroupCommit(flaky)
    with pytest.raises(OSError, match="disk full"):
        commit.commit()
    commit.commit()
    assert len(calls) == 2


# ------------------------------------------------------------------------ sync twins


def test_rate_limiter_spaces_and_pauses() -> None:
    limiter = RateLimiter(50)
    started = time.monotonic()
    for _ in range(6):
        limiter.acquire()
    assert time.monotonic() - started >= 5 * 0.02 * 0.9
    limiter.pause(0.15)
    paused = time.monotonic()
    limiter.acquire()
    assert time.monotonic() - paused >= 0.14


def test_worker_pool_bounds_and_waits_and_reports_errors() -> None:
    running = 0
    most = 0
    lock = threading.Lock()

    def work(seconds: float) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(seconds)
        with lock:
            running -= 1

    with WorkerPool(3) as pool:
        for _ in range(12):
            pool.submit(work, 0.01)
    assert running == 0
    assert most == 3

    def boom(_: int) -> None:
        raise ValueError("worker failed")

    def run_failing() -> None:
        with WorkerPool(2) as pool:
            pool.submit(boom, 1)
            pool.wait_idle(1.0)
            pool.submit(boom, 2)

    with pytest.raises(ValueError, match="worker failed"):
        run_failing()


def test_async_worker_pool_waits_for_running_calls_on_error() -> None:
    finished: list[int] = []

    async def work(number: int) -> None:
        await anyio.sleep(0.05)
        finished.append(number)

    async def main() -> None:
        async with AsyncWorkerPool(4) as pool:
            for number in range(4):
                await pool.submit(work, number)
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        anyio.run(main)
    assert sorted(finished) == [0, 1, 2, 3]  # none abandoned


def test_pool_and_limiter_reject_bad_settings() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        WorkerPool(0)
    with pytest.raises(ValueError, match="concurrency"):
        AsyncWorkerPool(0)
    with pytest.raises(ValueError, match="rate"):
        RateLimiter(0)


def test_journal_file_is_not_world_readable_even_with_a_loose_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        Journal.open(tmp_path / "j").close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "j").stat().st_mode) == 0o600


@pytest.mark.parametrize("opening", ["open", "remember_new=False", "bulk path"])
def test_state_knows_every_ref_of_the_run_however_the_journal_was_opened(
    tmp_path: Path, opening: str
) -> None:
    path = tmp_path / "j"
    with Journal.open(path) as journal:
        journal.record_failed("old", "x")
    if opening == "bulk path":  # how create_many opens a journal given as a path
        opened, owned = open_journal(path)
        assert opened is not None
        assert owned
        journal = opened
    else:
        journal = Journal.open(path, remember_new=opening == "open")
    with journal:
        journal.record_intent("new", request("new"))  # type: ignore[arg-type]
        assert journal.state("new") is BulkState.UNKNOWN  # written this run: known
        assert journal.interrupted("new")
        journal.record_issued("new", CARD)
        journal.record_intent("old", request("old"))  # type: ignore[arg-type]
        journal.record_issued("old", CARD)
        assert journal.state("new") is BulkState.ISSUED
        assert journal.state("old") is BulkState.ISSUED
        entry = journal.entry("new")
        assert entry is not None
        assert entry.card is not None
        assert entry.card.key == CARD["card_key"]
        assert "new" in journal
        assert len(journal) == 2
        assert list(journal) == ["old", "new"]  # journal order: first record first
        assert journal.counts()[BulkState.ISSUED] == 2
    with Journal.open(path) as journal:  # ...and the file has everything
        assert journal.state("new") is BulkState.ISSUED
        assert journal.state("old") is BulkState.ISSUED
        assert list(journal) == ["old", "new"]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_cancelling_a_run_leaves_no_sent_create_without_its_outcome(
    tmp_path: Path, backend: str
) -> None:
    import httpx

    from gatepay_async import AsyncGatePay, CardSpec

    path = tmp_path / "j"
    answered: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(0.05)
        title = json.loads(request.content)["title"]
        answered.append(title)
        data = {"card_num": f"GC-{title}", "card_key": f"K-{title}", "amount": "1", "status": 1}
        return httpx.Response(200, json={"status": "SUCCESS", "code": "000000", "data": data})

    async def main() -> None:
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        async with AsyncGatePay(
            client_id="c", secret_key="s", base_url="http://127.0.0.1:9", http_client=http
        ) as gp:
            specs = (CardSpec(f"r{i}", f"r{i}", "1", "USDT", "1") for i in range(1000))
            with anyio.move_on_after(0.2):
                async for _ in gp.gift_cards.create_many(specs, concurrency=8, journal=path):
                    pass
        await http.aclose()

    anyio.run(main, backend=backend)
    with Journal.open(path) as journal:
        assert 8 <= len(journal) < 1000
        assert journal.counts()[BulkState.UNKNOWN] == 0  # every sent create was recorded
        assert journal.counts()[BulkState.ISSUED] == len(answered)


def test_a_ctrl_c_just_after_a_write_never_shifts_a_refs_record(tmp_path: Path) -> None:
    """A KeyboardInterrupt raised as the journal's write returned (its bytes on disk, the
    count not advanced): the next flush wrote them again, every later record sat past its
    indexed offset, and ``entry('b')`` read card a's number and key."""

    def request(title: str) -> Any:
        return build_create_request(
            title=title, template_id="255267012439183360", currency="USDT", amount=Decimal("1")
        )

    journal = Journal.open(tmp_path / "j")
    journal.record_intent("a", request("a"))
    journal.record_issued("a", {"card_num": "N-A", "card_key": "K-A"})
    fired: list[bool] = []

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        # A Ctrl-C is raised at the first check after os.write returns: here, the return.
        if frame.f_code is _journal._write_fd.__code__:
            if event == "return" and not fired:
                fired.append(True)
                raise KeyboardInterrupt
            return tracer
        return None

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        with pytest.raises(KeyboardInterrupt):
            journal.flush()
    finally:
        sys.settrace(previous)
    assert fired
    journal.record_intent("b", request("b"))
    journal.record_issued("b", {"card_num": "N-B", "card_key": "K-B"})
    journal.flush()
    for ref, number, key in (("a", "N-A", "K-A"), ("b", "N-B", "K-B")):
        entry = journal.entry(ref)
        assert entry is not None
        assert entry.card is not None
        assert (entry.card.card_number, entry.card.key) == (number, key)
    journal.close()
    lines = (tmp_path / "j").read_bytes().splitlines()
    assert len(lines) == len(set(lines))  # nothing written twice

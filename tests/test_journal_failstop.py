"""A journal whose disk fails: cut back to the last whole record, never retried, intents
refused, outcomes kept in memory (their keys reachable), and create_many stops sending.

The failure is injected at the one place the journal writes (``_write_fd``); the CLI
test at the end gets a real EFBIG from a file-size limit in a child process."""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import subprocess
from collections.abc import Iterator
from contextlib import nullcontext
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gatepay_async._bulk_models import BulkState
from gatepay_async._storage.journal import Journal, JournalError
from gatepay_async._wire.validation import build_create_request
from gatepay_sync import GatePay
from tests._async.conftest import mock_client
from tests._async.test_bulk import CARD_KEY_PREFIX, FakeGatePay, specs
from tests._sync.conftest import mock_client as mock_sync_client
from tests._sync.test_bulk import FakeGatePay as SyncFakeGatePay
from tests.test_cli import (
    TEMPLATE_ID,
    _bulk_create,
    _start_sandbox,
    _stats,
    read_output,
    write_input,
)


class DiskFull:
    """``os.write`` with ``budget`` bytes of room left: a short write, then ENOSPC."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.calls = 0

    def __call__(self, fd: int, data: memoryview) -> int:
        self.calls += 1
        if self.budget <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        written = os.write(fd, data[: self.budget])
        self.budget -= written
        return written


def _lines(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), "a torn record was left at the end"
    return [json.loads(line) for line in data.splitlines()]  # every line whole


def _request(title: str) -> Any:
    return build_create_request(
        title=title, template_id=TEMPLATE_ID, currency="USDT", amount=Decimal("1")
    )


def test_a_short_write_is_cut_back_and_never_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "j"
    journal = Journal.open(path)
    try:
        journal.record_intent("a", _request("a"))
        journal.flush()
        good = path.stat().st_size
        disk = DiskFull(budget=30)  # room for a part of the next batch only
        monkeypatch.setattr("gatepay_async._storage.journal._write_fd", disk)
        journal.record_issued("a", {"card_num": "GC1", "card_key": "KEY-1"})
        journal.record_intent("b", _request("b"))
        with pytest.raises(JournalError, match="No space left") as failed:
            journal.flush()
        assert "run again with the same journal" in str(failed.value)
        assert path.stat().st_size == good  # the torn fragment is gone
        calls = disk.calls
        disk.budget = 10_000  # space again: still nothing is written (no rewrite)
        with pytest.raises(JournalError):
            journal.flush()
        with pytest.raises(JournalError):
            journal.record_intent("c", _request("c"))  # nothing more may be sent
        journal.record_issued("b", {"card_num": "GC2", "card_key": "KEY-2"})
        assert disk.calls == calls
        # The outcomes are kept in memory: the keys can still be reported.
        entry = journal.entry("a")
        assert entry is not None
        assert entry.card is not None
        assert (entry.state, entry.card.key) == (BulkState.ISSUED, "KEY-1")
        assert [ref for ref, _ in journal.unwritten_cards()] == ["a", "b"]
        assert journal.failure is not None
    finally:
        journal.close()  # no error: the failure was reported already
    assert [r["op"] for r in _lines(path)] == ["journal", "intent"]
    reopened = Journal.open(path)  # reads back: 'a' sent, answer not recorded -> unknown
    try:
        assert reopened.state("a") is BulkState.UNKNOWN
        assert reopened.state("b") is None
    finally:
        reopened.close()


def test_a_failed_fsync_stops_the_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = Journal.open(tmp_path / "j")
    try:
        journal.record_intent("a", _request("a"))

        def broken(fd: int) -> None:
            raise OSError(errno.EIO, "Input/output error")

        monkeypatch.setattr("gatepay_async._storage.journal._flush_fd", broken)
        with pytest.raises(JournalError, match="Input/output error"):
            journal.flush()
        with pytest.raises(JournalError):
            journal.record_intent("b", _request("b"))
    finally:
        journal.close()


#: Each create_many test runs in the run's ``async with`` block and without it (deprecated).
SHAPES = pytest.mark.parametrize("block", [True, False], ids=["block", "bare"])


@pytest.mark.anyio
@SHAPES
async def test_create_many_stops_before_the_next_send_and_keeps_every_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: bool
) -> None:
    path = tmp_path / "j"
    fake = FakeGatePay(latency=0.01)
    fake.journal_path = path  # the fake checks each create's intent is on disk first
    journal = Journal.open(path)
    monkeypatch.setattr("gatepay_async._storage.journal._write_fd", DiskFull(budget=6000))
    seen: dict[str, Any] = {}
    try:
        async with mock_client(fake.handler) as gp:
            run = gp.gift_cards.create_many(specs(200), concurrency=4, journal=journal)
            with pytest.raises(JournalError, match="No space left"):  # noqa: PT012
                async with run if block else nullcontext(run) as results:
                    async for result in results:
                        seen[result.ref] = result
        assert fake.intent_missing == []  # no create was sent without its intent on disk
        assert 0 < len(fake.seen) < 200  # the run stopped
        issued = set(fake.issued)
        assert issued <= set(seen)  # every card issued was handed out, with its key
        for title in issued:
            card = seen[title].card
            assert seen[title].state is BulkState.ISSUED
            assert card is not None
            assert card.key.startswith(CARD_KEY_PREFIX)
        on_disk = {r["ref"] for r in _lines(path) if r["op"] == "issued"}
        in_memory = {ref for ref, _ in journal.unwritten_cards()}
        assert issued <= on_disk | in_memory
        assert on_disk.isdisjoint(in_memory)
    finally:
        journal.close()


@SHAPES
def test_sync_create_many_stops_before_the_next_send_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: bool
) -> None:
    path = tmp_path / "j"
    fake = SyncFakeGatePay()
    journal = Journal.open(path)
    monkeypatch.setattr("gatepay_async._storage.journal._write_fd", DiskFull(budget=6000))
    seen: set[str] = set()
    try:
        gp: GatePay
        with mock_sync_client(fake.handler) as gp:
            run = gp.gift_cards.create_many(specs(200), concurrency=4, journal=journal)
            with pytest.raises(JournalError), run if block else nullcontext(run) as results:  # noqa: PT012
                for result in results:
                    seen.add(result.ref)
        assert 0 < len(fake.seen) < 200
        assert set(fake.issued) <= seen
        on_disk = {r["ref"] for r in _lines(path) if r["op"] == "issued"}
        assert set(fake.issued) <= on_disk | {ref for ref, _ in journal.unwritten_cards()}
    finally:
        journal.close()


# ------------------------------------------------------------------------ a real full disk


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[str]:
    process, url = _start_sandbox(tmp_path / "cards.db", latency=0.02)
    try:
        yield url
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def _file_size_limit(limit: int) -> Any:
    def limited() -> None:  # in the child, before exec
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limited


def test_bulk_create_on_a_full_disk_stops_and_prints_every_unjournaled_key(
    tmp_path: Path, sandbox: str
) -> None:
    rows = [(f"r{i}", f"title-{i}", TEMPLATE_ID, "USDT", "1") for i in range(80)]
    source = write_input(tmp_path / "in.csv", rows)
    out, journal = tmp_path / "out.csv", tmp_path / "run.journal"
    command, env = _bulk_create(sandbox, source, out, journal, 4)
    full = subprocess.run(  # noqa: S603 - our own module
        command,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=_file_size_limit(16_000),  # no threads: safe
    )
    assert full.returncode == 2, full.stdout + full.stderr
    assert "Traceback" not in full.stderr
    assert "cannot write to the journal" in full.stderr
    assert "File too large" in full.stderr
    assert "run again with the same journal" in full.stderr
    assert journal.stat().st_size <= 16_000
    records = _lines(journal)  # no torn record: the journal ends on a whole line
    journaled = {r["ref"]: r for r in records if r["op"] == "issued"}
    intents = {r["ref"] for r in records if r["op"] == "intent"}
    stats = _stats(sandbox)
    sent = stats["attempts"]["create"]
    # Every create sent had its intent on disk, and the run stopped. (An intent made
    # durable by a neighbour's flush, whose own wait then failed, was never sent: it
    # reads as unknown, the safe side.)
    assert sent <= len(intents) <= sent + 4
    assert len(intents) < 80
    output = {row["ref"]: row for row in read_output(out)}
    issued = {ref: row for ref, row in output.items() if row["state"] == "issued"}
    assert len(issued) == sent  # every card issued is in the output, with its key
    unjournaled = set(issued) - set(journaled)
    assert unjournaled  # the failure hit outcomes of cards already issued...
    for ref in unjournaled:  # ...and their keys are on the terminal too
        assert f"{ref},{issued[ref]['card_number']},{issued[ref]['key']}" in full.stderr
    rest = [row for ref, row in output.items() if ref not in issued]
    assert {row["state"] for row in rest} <= {"not_attempted", "failed"}
    assert all(row["error"].startswith("not sent") for row in rest if row["state"] == "failed")

    again = subprocess.run(  # noqa: S603 - our own module
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )  # space again: the unjournaled rows are unknown (intent, no outcome), never resent
    stats = _stats(sandbox)
    assert stats["attempts"]["create"] == sent + 80 - len(intents)
    assert again.returncode == (2 if len(intents) > sent else 0), again.stdout + again.stderr
    # The rerun took the keys the journal could not record back from the old output:
    # the new output still has every card, and the journal now records them.
    rerun = {row["ref"]: row for row in read_output(out)}
    for ref, row in issued.items():
        assert rerun[ref] == row
    healed = {r["ref"] for r in _lines(journal) if r["op"] == "issued"}
    assert unjournaled <= healed

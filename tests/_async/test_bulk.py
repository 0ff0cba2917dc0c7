"""create_many: states, the journal, resuming, back-off, rate, early break, concurrency.

The fake GatePay below is thread-safe because the sync facade runs its workers in
threads.
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import stat
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import nullcontext
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from gatepay_async import AsyncGatePay, ValidationError
from gatepay_async._bulk.worker_pool import AsyncWorkerPool
from gatepay_async._bulk_models import AsyncSpecs, BulkResult, BulkState, CardSpec
from gatepay_async._primitives.synchronization import async_monotonic, async_sleep
from gatepay_async._storage.journal import Journal

from .conftest import mock_client

TEMPLATE_ID = "255267012439183360"
CARD_KEY_PREFIX = "KEY-secret-"

#: What the fake does with a create, by title: an answer, or an exception to raise.
Behaviour = Callable[[dict[str, Any], int], httpx.Response | None]


def envelope(data: Any, *, status: str = "SUCCESS", code: str = "000000") -> dict[str, Any]:
    return {"status": status, "code": code, "label": "", "errorMessage": "", "data": data}


class FakeGatePay:
    """A thread-safe GatePay create endpoint that records everything it sees."""

    def __init__(self, *, latency: float = 0.0) -> None:
        self.latency = latency
        self.lock = threading.Lock()
        self.issued: list[str] = []  # titles, in issue order
        self.seen: list[str] = []  # titles of every create received
        self.starts: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.numbers = itertools.count(1)
        self.rules: dict[str, Behaviour] = {}
        self.journal_path: Path | None = None
        self.delays: dict[str, float] = {}  # title -> latency of that row only
        self.intent_missing: list[str] = []

    def attempts(self, title: str) -> int:
        return self.seen.count(title)

    async def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        title = body["title"]
        with self.lock:
            self.seen.append(title)
            count = self.seen.count(title)
            self.starts.append(async_monotonic())
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.journal_path is not None:
                journal_text = self.journal_path.read_text(encoding="utf-8")
                if f'"op":"intent","ref":"{title}"' not in journal_text:
                    self.intent_missing.append(title)
        try:
            delay = self.delays.get(title, self.latency)
            if delay:
                await async_sleep(delay)
            rule = self.rules.get(title)
            if rule is not None:
                answer = rule(body, count)
                if answer is not None:
                    return answer
            with self.lock:
                number = next(self.numbers)
                self.issued.append(title)
            data = {
                "card_num": f"GC{number:014d}",
                "card_key": f"{CARD_KEY_PREFIX}{number}",
                "amount": body["amount"],
                "currency": body["currency"],
                "status": 1,
                "card_temp_id": body["templateId"],
                "create_time": 1737942105582,
            }
            return httpx.Response(200, json=envelope(data))
        finally:
            with self.lock:
                self.in_flight -= 1


def refuse(body: dict[str, Any], count: int) -> httpx.Response:
    """400001: GatePay refused the parameters (nothing issued)."""
    return httpx.Response(
        400, json=envelope(None, status="FAIL", code="400001") | {"errorMessage": "bad title"}
    )


def lose_answer(body: dict[str, Any], count: int) -> httpx.Response:
    """The request reached GatePay and the answer was lost."""
    raise httpx.ReadError("connection reset while reading the answer")


def server_error(body: dict[str, Any], count: int) -> httpx.Response:
    return httpx.Response(503, json=envelope(None, status="FAIL", code="500000"))


def never_connects(body: dict[str, Any], count: int) -> httpx.Response:
    raise httpx.ConnectError("connection refused")


def first_time(behaviour: Behaviour) -> Behaviour:
    """``behaviour`` on the first attempt of a title; a normal answer after it."""

    def rule(body: dict[str, Any], count: int) -> httpx.Response | None:
        return behaviour(body, count) if count == 1 else None

    return rule


def spec(ref: str, amount: Any = "1.50", **fields: Any) -> CardSpec:
    values: dict[str, Any] = {
        "title": ref,
        "template_id": TEMPLATE_ID,
        "currency": "USDT",
        "amount": amount,
    }
    values.update(fields)
    return CardSpec(ref=ref, **values)


def specs(count: int, prefix: str = "row") -> list[CardSpec]:
    return [spec(f"{prefix}-{i}") for i in range(count)]


async def run(gp: AsyncGatePay, items: AsyncSpecs, **options: Any) -> dict[str, BulkResult]:
    results: dict[str, BulkResult] = {}
    async with gp.gift_cards.create_many(items, **options) as run:
        async for result in run:
            assert result.ref not in results
            results[result.ref] = result
    return results


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# ------------------------------------------------------------------------ states


@pytest.mark.anyio
async def test_each_outcome_maps_to_its_state() -> None:
    fake = FakeGatePay()
    fake.rules = {
        "refused": refuse,
        "lost": lose_answer,
        "server-error": server_error,
        "not-sent": never_connects,
    }
    rows = [spec("ok-1"), spec("refused"), spec("lost"), spec("server-error"), spec("not-sent")]
    async with mock_client(fake.handler, max_retries=0) as gp:
        results = await run(gp, rows, concurrency=4)

    assert {ref: r.state for ref, r in results.items()} == {
        "ok-1": BulkState.ISSUED,
        "refused": BulkState.FAILED,
        "lost": BulkState.UNKNOWN,
        "server-error": BulkState.UNKNOWN,
        "not-sent": BulkState.FAILED,
    }
    ok = results["ok-1"]
    assert ok.card is not None
    assert ok.card.key.startswith(CARD_KEY_PREFIX)
    assert ok.card.amount == Decimal("1.50")
    assert ok.error is None
    assert ok.state == "issued"
    assert not ok.from_journal
    assert "InvalidRequestError" in (results["refused"].error or "")
    assert "OutcomeUnknownError" in (results["lost"].error or "")
    assert "ServerError" in (results["server-error"].error or "")
    assert "RequestNotSentError" in (results["not-sent"].error or "")
    for result in results.values():
        assert CARD_KEY_PREFIX not in repr(result)  # keys never in reprs


@pytest.mark.anyio
async def test_bad_rows_fail_alone_and_nothing_is_sent_for_them() -> None:
    fake = FakeGatePay()
    rows = [
        spec("good-1"),
        spec("bad-amount", amount="abc"),
        spec("float-amount", amount=1.5),
        spec("bad-currency", currency="usdt"),
        spec("no-title", title=""),
        spec("too-precise", amount="0.1234567"),
        spec("good-2"),
    ]
    async with mock_client(fake.handler) as gp:
        results = await run(gp, rows, concurrency=3)

    assert fake.seen == ["good-1", "good-2"] or sorted(fake.seen) == ["good-1", "good-2"]
    assert results["good-1"].state == results["good-2"].state == BulkState.ISSUED
    expected_field = {
        "bad-amount": "amount",
        "float-amount": "amount",
        "bad-currency": "currency",
        "no-title": "title",
        "too-precise": "amount",
    }
    for ref, field in expected_field.items():
        assert results[ref].state is BulkState.FAILED
        assert (results[ref].error or "").startswith(f"{field}:"), results[ref].error
        assert isinstance(results[ref].exception, ValidationError)


# ------------------------------------------------------------------------ duplicates


@pytest.mark.anyio
async def test_duplicate_refs_in_a_list_are_refused_before_anything_is_sent() -> None:
    fake = FakeGatePay()
    rows = [spec("a"), spec("b"), spec("a", amount="2")]
    gp = mock_client(fake.handler)
    with pytest.raises(ValidationError, match="duplicate ref 'a'"):
        gp.gift_cards.create_many(rows)
    await gp.aclose()
    assert fake.seen == []


@pytest.mark.anyio
async def test_duplicate_ref_in_a_stream_fails_that_row_only() -> None:
    fake = FakeGatePay()
    rows = [spec("a"), spec("b"), CardSpec("a", "other", TEMPLATE_ID, "USDT", "2")]
    async with mock_client(fake.handler) as gp:
        states: list[tuple[str, BulkState, str | None]] = []
        async for result in gp.gift_cards.create_many(iter(rows)):
            states.append((result.ref, result.state, result.error))
    assert sorted(fake.seen) == ["a", "b"]
    issued = [s for s in states if s[1] is BulkState.ISSUED]
    failed = [s for s in states if s[1] is BulkState.FAILED]
    assert sorted(s[0] for s in issued) == ["a", "b"]
    assert len(failed) == 1
    assert failed[0][0] == "a"
    assert "duplicate" in (failed[0][2] or "")


class CollidingRef(str):
    """A ref whose hash is every other CollidingRef's: distinct refs, one hash."""

    def __hash__(self) -> int:
        return 0


@pytest.mark.anyio
@pytest.mark.parametrize("journaled", [False, True])
async def test_distinct_refs_with_one_hash_are_not_duplicates(
    tmp_path: Path, journaled: bool
) -> None:
    fake = FakeGatePay()
    rows = [spec(CollidingRef("a")), spec(CollidingRef("b")), spec(CollidingRef("a"))]
    assert hash(rows[0].ref) == hash(rows[1].ref)
    assert rows[0].ref != rows[1].ref
    journal = tmp_path / "j" if journaled else None
    async with (
        mock_client(fake.handler) as gp,
        gp.gift_cards.create_many(iter(rows), journal=journal) as run,
    ):
        results = [r async for r in run]
    assert sorted(fake.seen) == ["a", "b"]  # the ref itself decides, not its hash
    states = sorted((r.ref, r.state) for r in results)
    assert states == [
        ("a", BulkState.FAILED),  # the second "a" is the duplicate
        ("a", BulkState.ISSUED),
        ("b", BulkState.ISSUED),
    ]


# ------------------------------------------------------------------------ the journal


@pytest.mark.anyio
async def test_journal_has_intent_before_send_then_outcome_and_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "campaign.journal"
    fake = FakeGatePay()
    fake.journal_path = path
    fake.rules = {"refused": refuse, "lost": lose_answer}
    rows = [*specs(5), spec("refused"), spec("lost"), spec("bad", currency="??")]
    async with mock_client(fake.handler, max_retries=0) as gp:
        results = await run(gp, rows, concurrency=4, journal=path)

    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert fake.intent_missing == []  # every create found its intent already written
    lines = records(path)
    assert lines[0]["op"] == "journal"
    by_ref: dict[str, list[str]] = {}
    for record in lines[1:]:
        by_ref.setdefault(record["ref"], []).append(record["op"])
    for i in range(5):  # the raw answer is recorded before it is interpreted
        assert by_ref[f"row-{i}"] == ["intent", "answer", "issued"]
    assert by_ref["refused"] == ["intent", "answer", "failed"]
    assert by_ref["lost"] == ["intent", "unknown"]
    assert by_ref["bad"] == ["failed"]  # never sent: no intent
    issued = next(r for r in lines if r["op"] == "issued" and r["ref"] == "row-0")
    assert issued["card"]["card_key"] == results["row-0"].card.key  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_rerun_never_resends_issued_and_yields_them_from_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    fake = FakeGatePay()
    rows = specs(30)
    async with mock_client(fake.handler) as gp:
        first = await run(gp, rows, concurrency=8, journal=path)
        assert len(fake.seen) == 30
        second = await run(gp, rows, concurrency=8, journal=path)
    assert len(fake.seen) == 30  # nothing sent again
    assert set(second) == set(first)
    for ref, result in second.items():
        assert result.state is BulkState.ISSUED
        assert result.from_journal
        assert result.card == first[ref].card


@pytest.mark.anyio
async def test_unknown_is_not_resent_unless_retry_unknown(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    fake = FakeGatePay()
    fake.rules = {"lost": first_time(lose_answer)}
    rows = [spec("lost"), spec("fine")]
    async with mock_client(fake.handler, max_retries=0) as gp:
        first = await run(gp, rows, journal=path)
        assert first["lost"].state is BulkState.UNKNOWN
        second = await run(gp, rows, journal=path)
        assert fake.attempts("lost") == 1
        assert second["lost"].state is BulkState.UNKNOWN
        assert second["lost"].from_journal
        third = await run(gp, rows, journal=path, retry_unknown=True)
    assert fake.attempts("lost") == 2
    assert third["lost"].state is BulkState.ISSUED
    assert not third["lost"].from_journal
    assert fake.attempts("fine") == 1


@pytest.mark.anyio
async def test_intent_without_outcome_counts_as_unknown(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    crashed = {"op": "intent", "ref": "mid-flight", "title": "mid-flight", "amount": "1.50"}
    path.write_text(json.dumps(crashed) + "\n" + '{"op":"issued","ref":"torn', encoding="utf-8")
    fake = FakeGatePay()
    async with mock_client(fake.handler) as gp:
        results = await run(gp, [spec("mid-flight"), spec("new")], journal=path)
        assert results["mid-flight"].state is BulkState.UNKNOWN
        assert "stopped before its answer" in (results["mid-flight"].error or "")
        assert fake.seen == ["new"]
        again = await run(gp, [spec("mid-flight")], journal=path, retry_unknown=True)
    assert again["mid-flight"].state is BulkState.ISSUED
    assert fake.attempts("mid-flight") == 1


@pytest.mark.anyio
async def test_failed_rows_are_sent_again_on_a_rerun(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    fake = FakeGatePay()
    fake.rules = {"flaky": first_time(refuse)}
    rows = [spec("flaky"), spec("steady")]
    async with mock_client(fake.handler) as gp:
        first = await run(gp, rows, journal=path)
        second = await run(gp, rows, journal=path)
    assert first["flaky"].state is BulkState.FAILED
    assert second["flaky"].state is BulkState.ISSUED
    assert fake.attempts("flaky") == 2
    assert fake.attempts("steady") == 1


@pytest.mark.anyio
async def test_an_open_journal_object_can_be_passed_and_read_after(tmp_path: Path) -> None:
    fake = FakeGatePay()
    with Journal.open(tmp_path / "j.jsonl") as journal:
        async with mock_client(fake.handler) as gp:
            await run(gp, specs(4), journal=journal)
        entry = journal.entry("row-2")
        assert entry is not None
        assert entry.state is BulkState.ISSUED
        assert entry.card is not None
        assert entry.card.key.startswith(CARD_KEY_PREFIX)
        assert journal.counts()[BulkState.ISSUED] == 4


# ------------------------------------------------------------------------ pacing


@pytest.mark.anyio
async def test_concurrency_is_bounded(tmp_path: Path) -> None:
    fake = FakeGatePay(latency=0.02)
    async with mock_client(fake.handler) as gp:
        results = await run(gp, specs(40), concurrency=5, journal=tmp_path / "j")
    assert all(r.state is BulkState.ISSUED for r in results.values())
    assert 2 <= fake.max_in_flight <= 5


@pytest.mark.anyio
async def test_a_429_pauses_every_worker() -> None:
    fake = FakeGatePay(latency=0.01)
    refused_at: list[float] = []

    def too_many(body: dict[str, Any], count: int) -> httpx.Response | None:
        if count > 1:
            return None
        refused_at.append(async_monotonic())
        return httpx.Response(429, headers={"Retry-After": "0.4"}, json=envelope(None))

    fake.rules = {"row-3": too_many}
    async with mock_client(fake.handler, max_retries=0) as gp:
        results = await run(gp, specs(30), concurrency=4)
    assert all(r.state is BulkState.ISSUED for r in results.values())
    assert fake.attempts("row-3") == 2
    paused_from = refused_at[0] + 0.05
    paused_until = refused_at[0] + 0.35
    started_in_pause = [t for t in fake.starts if paused_from < t < paused_until]
    assert started_in_pause == []
    assert max(fake.starts) > paused_until


@pytest.mark.anyio
async def test_a_create_refused_with_429_every_time_fails() -> None:
    fake = FakeGatePay()

    def always_429(body: dict[str, Any], count: int) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "0"}, json=envelope(None))

    fake.rules = {"busy": always_429}
    async with mock_client(fake.handler, max_retries=0) as gp:
        results = await run(gp, [spec("busy"), spec("ok")])
    assert results["busy"].state is BulkState.FAILED
    assert "RateLimitError" in (results["busy"].error or "")
    assert fake.attempts("busy") >= 2
    assert results["ok"].state is BulkState.ISSUED


@pytest.fixture
def no_collection_pauses() -> Iterator[None]:
    """For a test that measures time: no collection of the whole session's heap in the
    middle of it (one takes 50-130 ms on a small machine, and stalls every thread)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@pytest.mark.anyio
@pytest.mark.usefixtures("no_collection_pauses")
async def test_rate_caps_requests_per_second() -> None:
    fake = FakeGatePay()
    async with mock_client(fake.handler) as gp:
        began = async_monotonic()
        await run(gp, specs(8), concurrency=8, rate=25)
    starts = sorted(fake.starts)
    # 25/s: slot i is reserved 40 ms after slot i-1, and no send precedes its slot. A
    # late wake-up (a loaded machine) delays a send but never moves one earlier, so
    # measured gaps can shrink while the i-th send is still never before its slot.
    for i, start in enumerate(starts):
        assert start >= began + i * 0.04 - 0.002, (i, start - began)
    assert starts[-1] - starts[0] >= 7 * 0.04 * 0.9


# ------------------------------------------------------------------------ control flow


@pytest.mark.anyio
async def test_breaking_early_stops_sending_and_leaves_the_client_usable(tmp_path: Path) -> None:
    fake = FakeGatePay(latency=0.005)
    async with mock_client(fake.handler) as gp:
        async for result in gp.gift_cards.create_many(
            specs(2000), concurrency=4, journal=tmp_path / "j"
        ):
            assert result.state is BulkState.ISSUED
            break
        sent = len(fake.seen)
        await async_sleep(0.2)
        assert len(fake.seen) == sent  # nothing is sent after the break
        assert sent < 2000
        card = await gp.gift_cards.create(
            title="after", template_id=TEMPLATE_ID, currency="USDT", amount="1"
        )
    assert card.key.startswith(CARD_KEY_PREFIX)
    journal = Journal.open(tmp_path / "j")  # every sent create has its outcome recorded
    try:
        counts = journal.counts()
        assert counts[BulkState.ISSUED] == sent
        assert counts[BulkState.UNKNOWN] == 0
    finally:
        journal.close()


@pytest.mark.anyio
async def test_a_slow_request_does_not_hold_back_the_other_results(tmp_path: Path) -> None:
    fake = FakeGatePay(latency=0.01)
    fake.delays["row-0"] = 2.0
    delivered: dict[str, float] = {}
    async with mock_client(fake.handler) as gp:
        started = async_monotonic()
        async with gp.gift_cards.create_many(
            specs(16), concurrency=4, journal=tmp_path / "j"
        ) as results:
            async for result in results:
                delivered[result.ref] = async_monotonic() - started
                if result.ref != "row-0":
                    assert "row-0" not in fake.issued  # handed out while row-0 is in flight
    assert len(delivered) == 16
    assert delivered["row-0"] >= 2.0
    assert max(delivered.values()) == delivered["row-0"]


@pytest.mark.anyio
async def test_each_result_is_in_the_journal_file_before_it_is_handed_out(tmp_path: Path) -> None:
    fake = FakeGatePay(latency=0.01)
    path = tmp_path / "j"
    async with (
        mock_client(fake.handler) as gp,
        gp.gift_cards.create_many(specs(30), concurrency=4, journal=path) as results,
    ):
        async for result in results:
            whole_lines = path.read_text(encoding="utf-8").split("\n")[:-1]
            written = [json.loads(line) for line in whole_lines]
            assert ("issued", result.ref) in [(r["op"], r.get("ref")) for r in written]


@pytest.mark.anyio
@pytest.mark.parametrize("block", [True, False], ids=["block", "bare"])
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_each_result_is_fsynced_before_it_is_handed_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: bool
) -> None:
    """Written is not durable: each result's record lies within what an fsync (begun after
    it was written) covered. Catches a reader that hands out what another worker's flush
    only wrote."""
    durable = [0]  # the journal's size when the last completed fsync began

    def flush_fd(fd: int) -> None:
        size = os.fstat(fd).st_size
        os.fsync(fd)
        durable[0] = max(durable[0], size)

    monkeypatch.setattr("gatepay_async._storage.journal._flush_fd", flush_fd)
    fake = FakeGatePay(latency=0.01)
    path = tmp_path / "j"

    def check(result: BulkResult) -> None:
        synced = path.read_bytes()[: durable[0]].decode("utf-8").split("\n")[:-1]
        records = [json.loads(line) for line in synced]
        assert ("issued", result.ref) in [(r["op"], r.get("ref")) for r in records]

    async with mock_client(fake.handler) as gp:
        run = gp.gift_cards.create_many(specs(30), concurrency=4, journal=path)
        if block:
            async with run as results:
                async for result in results:
                    check(result)
        else:
            async for result in run:  # deprecated (tested elsewhere)
                check(result)


@pytest.mark.anyio
@pytest.mark.parametrize("leave", ["break", "raise"])
async def test_leaving_the_block_early_waits_for_and_records_every_request_sent(
    tmp_path: Path, leave: str
) -> None:
    fake = FakeGatePay(latency=0.005)
    fake.delays["row-1"] = 0.5  # still in flight when the block is left
    async with mock_client(fake.handler) as gp:
        with pytest.raises(RuntimeError) if leave == "raise" else nullcontext():
            async with gp.gift_cards.create_many(
                specs(2000), concurrency=4, journal=tmp_path / "j"
            ) as results:
                async for result in results:
                    assert result.state is BulkState.ISSUED
                    if leave == "raise":
                        raise RuntimeError("the caller's own error")
                    break
        assert fake.in_flight == 0  # the block waited for every request it sent...
        assert results.stopping
        sent = len(fake.seen)
        await async_sleep(0.2)
        assert len(fake.seen) == sent  # ...and sends nothing after it
    assert "row-1" in fake.issued
    assert sent < 2000
    with Journal.open(tmp_path / "j") as journal:  # every sent create has its outcome
        counts = journal.counts()
        assert counts[BulkState.ISSUED] == sent
        assert counts[BulkState.UNKNOWN] == 0


@pytest.mark.anyio
@pytest.mark.parametrize("block", [True, False], ids=["block", "bare"])
@pytest.mark.filterwarnings("ignore:iterating create_many:DeprecationWarning")
async def test_leaving_early_without_a_journal_keeps_every_issued_card_on_the_run(
    block: bool,
) -> None:
    fake = FakeGatePay(latency=0.005)
    fake.delays["row-1"] = 0.3  # still in flight when the iteration is left
    handed_out: list[BulkResult] = []
    async with mock_client(fake.handler) as gp:
        run = gp.gift_cards.create_many(specs(2000), concurrency=4)
        if block:
            async with run as results:
                async for result in results:
                    handed_out.append(result)
                    break
        else:  # the deprecated iteration: its warning is tested on its own
            async for result in run:
                handed_out.append(result)
                break
            await run.aclose()
    kept = {r.ref: r for r in [*handed_out, *run.undelivered]}
    assert len(kept) == len(handed_out) + len(run.undelivered)  # each result once
    assert sorted(fake.issued) == sorted(r for r in kept if kept[r].state is BulkState.ISSUED)
    assert "row-1" in fake.issued
    for ref in fake.issued:  # every card GatePay issued: its number and key are here
        card = kept[ref].card
        assert card is not None
        assert card.key.startswith(CARD_KEY_PREFIX)


@pytest.mark.anyio
async def test_stop_in_the_block_hands_out_the_requests_in_flight_then_ends(
    tmp_path: Path,
) -> None:
    fake = FakeGatePay(latency=0.02)
    got: list[BulkResult] = []
    async with (
        mock_client(fake.handler) as gp,
        gp.gift_cards.create_many(specs(500), concurrency=4, journal=tmp_path / "j") as results,
    ):
        async for result in results:
            got.append(result)
            if len(got) == 10:
                results.stop()
    assert 10 <= len(fake.seen) < 500
    assert sorted(r.ref for r in got) == sorted(fake.seen)  # each sent create handed out
    assert {r.state for r in got} == {BulkState.ISSUED}


@pytest.mark.anyio
async def test_iterating_without_the_block_still_works_and_is_deprecated() -> None:
    fake = FakeGatePay()
    async with mock_client(fake.handler) as gp:
        with pytest.warns(DeprecationWarning, match=r"with gp\.gift_cards\.create_many") as caught:
            got = [r async for r in gp.gift_cards.create_many(specs(5), concurrency=2)]
    assert sorted(r.ref for r in got) == [f"row-{i}" for i in range(5)]
    assert {r.state for r in got} == {BulkState.ISSUED}
    deprecations = [w for w in caught if w.category is DeprecationWarning]
    assert len(deprecations) == 1
    assert deprecations[0].filename == __file__  # it points at the caller's loop


@pytest.mark.anyio
async def test_rows_are_sent_by_long_lived_workers_not_a_task_per_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[object] = []
    original = AsyncWorkerPool.submit

    async def counting_submit(self: AsyncWorkerPool, fn: Any, arg: Any) -> None:
        started.append(fn)
        await original(self, fn, arg)

    monkeypatch.setattr(AsyncWorkerPool, "submit", counting_submit)
    fake = FakeGatePay()
    async with mock_client(fake.handler) as gp:
        results = await run(gp, specs(600), concurrency=4)
    assert len(results) == 600
    assert all(r.state is BulkState.ISSUED for r in results.values())
    assert len(fake.seen) == 600
    # The block starts its 4 workers once (the deprecated iteration without it, once per
    # batch of 256 results); a task per row would be 600.
    assert len(started) <= 4 * 6, len(started)


@pytest.mark.anyio
async def test_on_progress_sees_every_result_and_its_error_stops_the_run() -> None:
    fake = FakeGatePay()
    seen: list[str] = []
    async with mock_client(fake.handler) as gp:
        await run(gp, specs(12), on_progress=lambda r: seen.append(r.ref), concurrency=3)
        assert sorted(seen) == sorted(f"row-{i}" for i in range(12))

        def explode(result: BulkResult) -> None:
            raise RuntimeError("progress display broke")

        with pytest.raises(RuntimeError, match="progress display broke"):
            await run(gp, specs(50, prefix="x"), on_progress=explode, concurrency=2)
    assert len(fake.seen) < 12 + 50


@pytest.mark.anyio
async def test_bad_credentials_stop_sending_the_rest() -> None:
    fake = FakeGatePay()

    def unauthorized(body: dict[str, Any], count: int) -> httpx.Response:
        return httpx.Response(401, json=envelope(None, status="FAIL", code="400002"))

    for i in range(20):
        fake.rules[f"row-{i}"] = unauthorized
    async with mock_client(fake.handler) as gp:
        results = await run(gp, iter(specs(20)), concurrency=1)
    assert all(r.state is BulkState.FAILED for r in results.values())
    assert len(fake.seen) == 1
    assert "AuthenticationError" in (results["row-19"].error or "")


async def spec_stream(count: int) -> AsyncIterator[CardSpec]:
    for i in range(count):
        yield spec(f"stream-{i}")


@pytest.mark.anyio
async def test_specs_may_be_a_lazy_stream() -> None:
    fake = FakeGatePay()
    async with mock_client(fake.handler) as gp:
        results = await run(gp, spec_stream(25), concurrency=6)
    assert len(results) == 25
    assert all(r.state is BulkState.ISSUED for r in results.values())


@pytest.mark.anyio
async def test_options_are_checked_before_anything_is_sent() -> None:
    fake = FakeGatePay()
    async with mock_client(fake.handler) as gp:
        with pytest.raises(ValidationError, match="concurrency"):
            gp.gift_cards.create_many(specs(2), concurrency=0)
        with pytest.raises(ValidationError, match="rate"):
            gp.gift_cards.create_many(specs(2), rate=-1)
    assert fake.seen == []

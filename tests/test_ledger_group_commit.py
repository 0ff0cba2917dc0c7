"""The ledger's group commit: concurrent keyed creates share each transaction, on SQLite
and on PostgreSQL, and every promise of a create alone still holds for each of them.

Scripted answers (httpx.MockTransport) on the async client, asyncio and trio.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from gatepay_async import GiftCard, Ledger
from gatepay_async._storage.database import DatabaseError
from gatepay_async._storage.group_commit import AsyncCallBatches, Ended
from gatepay_async._storage.ledger import Begun, ledger_account
from gatepay_async._wire.validation import build_create_request
from tests import helpers
from tests._async.conftest import mock_client

CREATES = 16
ACCOUNT = ledger_account(helpers.BASE_URL, helpers.CLIENT_ID, None)


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("postgres_url"))


def count_transactions(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A one-item list counting the transactions the ledger's database commits."""
    backend = ledger._database._backend
    counted = [0]
    transaction = backend.transaction

    def counting(work: Any) -> Any:
        result = transaction(work)
        counted[0] += 1
        return result

    monkeypatch.setattr(backend, "transaction", counting)
    return counted


@pytest.mark.anyio
async def test_concurrent_keyed_creates_share_commits_and_each_claim_is_durable_before_its_send(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Ledger(ledger_url) as ledger, Ledger(ledger_url) as reader:
        states_at_send: dict[str, str | None] = {}

        def handler(request: httpx.Request) -> httpx.Response:
            key = json.loads(request.content)["title"]  # each create's title is its key
            # Read on another connection, as another process would: committed rows only.
            states_at_send[key] = reader.state(key)
            return helpers.success(helpers.card_data(card_num=f"GC-{key}"))

        counted = count_transactions(ledger, monkeypatch)
        cards: dict[str, GiftCard] = {}
        async with mock_client(handler, ledger=ledger) as gp:

            async def one(key: str) -> None:
                cards[key] = await gp.gift_cards.create(
                    title=key,
                    template_id=helpers.TEMPLATE_ID,
                    currency="USDT",
                    amount=Decimal("0.99"),
                    idempotency_key=key,
                )

            async with anyio.create_task_group() as group:
                for number in range(CREATES):
                    group.start_soon(one, f"order-{number}")
        # Alone, each create commits three transactions (claim, answer, outcome).
        assert counted[0] < CREATES * 2
        keys = [f"order-{number}" for number in range(CREATES)]
        assert states_at_send == dict.fromkeys(keys, "intent")  # claimed, committed, sent
        assert {key: cards[key].card_number for key in keys} == {k: f"GC-{k}" for k in keys}
        assert all(ledger.state(key) == "issued" for key in keys)


def test_a_call_that_fails_inside_a_shared_transaction_fails_no_other(ledger_url: str) -> None:
    request = build_create_request(
        title="Holiday", template_id=helpers.TEMPLATE_ID, currency="USDT", amount=Decimal("1")
    )
    with Ledger(ledger_url) as ledger:
        database = ledger._database

        def broken() -> object:
            return database.transaction(
                lambda tx: tx.execute("INSERT INTO no_such_table VALUES (1)")
            )

        ended = ledger.together(
            [
                lambda: ledger.begin("first", request, account=ACCOUNT),
                broken,
                lambda: ledger.begin("second", request, account=ACCOUNT),
            ]
        )
        (first, first_error), (_, broken_error), (second, second_error) = ended
        assert (first_error, second_error) == (None, None)
        assert isinstance(first, Begun)
        assert isinstance(second, Begun)
        assert first.owner is not None
        assert second.owner is not None
        assert isinstance(broken_error, DatabaseError)
        # Each claimed under the owner it was given (the shared attempt was undone).
        assert ledger.record_answer("first", first.owner, 200, b"{}")
        assert ledger.record_answer("second", second.owner, 200, b"{}")
        assert ledger.state("first") == ledger.state("second") == "intent"


def test_calls_run_together_commit_once_and_end_as_each_alone(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = build_create_request(
        title="Holiday", template_id=helpers.TEMPLATE_ID, currency="USDT", amount=Decimal("1")
    )
    other = build_create_request(
        title="Other", template_id=helpers.TEMPLATE_ID, currency="USDT", amount=Decimal("1")
    )
    with Ledger(ledger_url) as ledger:
        counted = count_transactions(ledger, monkeypatch)
        ended = ledger.together(
            [
                lambda: ledger.begin("a", request, account=ACCOUNT),
                lambda: ledger.begin("a", request, account=ACCOUNT),  # in flight: in doubt
                lambda: ledger.begin("b", request, account=ACCOUNT),
            ]
        )
        assert counted[0] == 1
        (a, a_error), (_, again_error), (b, b_error) = ended
        assert (a_error, b_error) == (None, None)
        assert type(again_error).__name__ == "OutcomeUnknownError"
        assert isinstance(a, Begun)
        assert isinstance(b, Begun)
        assert a.owner is not None
        assert b.owner is not None
        # A call that raises outside its statements (another request for the key) is
        # its own error: the others commit.
        ended = ledger.together(
            [
                lambda: ledger.begin("b", other, account=ACCOUNT),
                lambda: ledger.record_answer("a", str(a.owner), 200, b"{}"),
            ]
        )
        assert type(ended[0][1]).__name__ == "ValidationError"
        assert ended[1] == (True, None)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_batch_whose_runner_asyncio_cancels_is_never_run_twice() -> None:
    """asyncio's own cancellation passes anyio's shields: a batch's runner may leave while
    its worker thread still writes. The batch's other callers then get an error (whether
    it was written is unknown), never a second run of their calls (a second claim)."""
    ran: list[str] = []
    gates = [threading.Event(), threading.Event()]  # one per batch, in order
    batches_run: list[int] = []

    def run_together(calls: Sequence[Callable[[], Any]]) -> list[Ended]:
        gate = gates[len(batches_run)]
        batches_run.append(len(calls))
        gate.wait(5)
        return [(call(), None) for call in calls]

    batches = AsyncCallBatches(run_together)

    def call(name: str) -> Callable[[], str]:
        def record() -> str:
            ran.append(name)
            return name

        return record

    first = asyncio.ensure_future(batches.run(call("first")))  # runs alone, held
    await asyncio.sleep(0.05)
    leader = asyncio.ensure_future(batches.run(call("leader")))
    follower = asyncio.ensure_future(batches.run(call("follower")))
    await asyncio.sleep(0.05)
    gates[0].set()  # "first" ends; "leader" and "follower" are taken as one batch
    assert await first == "first"
    await asyncio.sleep(0.05)
    assert batches_run == [1, 2]
    leader.cancel()  # while the batch of both is held in its worker thread
    with pytest.raises(RuntimeError, match="interrupted"):
        await follower
    gates[1].set()
    with contextlib.suppress(asyncio.CancelledError):
        await leader
    await asyncio.sleep(0.1)  # the worker thread ends the batch it was running
    assert sorted(ran) == ["first", "follower", "leader"]  # each call once


@pytest.mark.anyio
async def test_writes_ready_at_the_same_turn_share_one_batch() -> None:
    """Callers that become ready together (the answers of one poll of the sockets) are
    written by one batch: the first to arrive lets the others join before it starts it,
    instead of starting a batch of its own call alone."""
    sizes: list[int] = []

    def run_together(calls: Sequence[Callable[[], Any]]) -> list[Ended]:
        sizes.append(len(calls))
        return [(call(), None) for call in calls]

    batches = AsyncCallBatches(run_together)
    results: list[int] = []

    async def write(number: int) -> None:
        results.append(await batches.run(lambda: number))

    async with anyio.create_task_group() as tasks:
        for number in range(CREATES):
            tasks.start_soon(write, number)
    assert sizes == [CREATES]
    assert sorted(results) == list(range(CREATES))

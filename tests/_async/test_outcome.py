"""One outcome for a create, the same through ``create`` and ``create_many``.

Every cell of the published decision table (HTTP status class x what the body holds),
odd SUCCESS answers, the raw answer in the journal before it is interpreted (and a
rerun recovering a card from it), the one retry loop (429 sends counted at a real
sandbox), the early stop when GatePay cannot be reached, and rows that changed.
"""

from __future__ import annotations

import json
import socket
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

import gatepay_async._decision.outcome as outcome_module
from gatepay_async import (
    APIError,
    AsyncGatePay,
    GiftCard,
    OutcomeUnknownError,
    RequestNotSentError,
)
from gatepay_async._bulk_models import BulkResult, BulkState, CardSpec
from gatepay_async._decision.outcome import Outcome
from gatepay_async._primitives.synchronization import async_monotonic
from gatepay_async._storage.journal import Journal, JournalError
from gatepay_async._wire.validation import build_create_request
from gatepay_async.resources.gift_cards import AsyncGiftCards
from gatepay_async.sandbox import SandboxServer, parse_fault
from tests.secret_leaks import leaked_pieces, raised_texts

from .conftest import client_at, mock_client

TEMPLATE_ID = "255267012439183360"
KEY = "KEY-outcome-secret-0123456789"
NUMBER = "GC00000000000042"


def card_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "card_num": NUMBER,
        "card_key": KEY,
        "amount": "1.50",
        "currency": "USDT",
        "status": 1,
        "card_temp_id": TEMPLATE_ID,
        "create_time": 1737942105582,
        "give_count": 0,
    }
    data.update(overrides)
    return data


def envelope(data: Any, *, status: str = "SUCCESS", code: str = "000000") -> bytes:
    body = {"status": status, "code": code, "label": "", "errorMessage": "", "data": data}
    return json.dumps(body).encode()


#: One body per column of the table.
BODIES: dict[str, bytes] = {
    "card": envelope(card_data()),
    "success, no card": envelope(card_data(card_key="")),
    "FAIL": envelope(None, status="FAIL", code="987654"),  # a code GatePay never documented
    "FAIL with a card": envelope(card_data(), status="FAIL", code="987654"),
    "other status": envelope(card_data(), status="PROCESSING"),
    "no envelope": b"<html>502 Bad Gateway</html>",
}
#: The expected outcome of each (HTTP status, body), written out independently of the
#: code's table: I issued, R refused, U unknown.
EXPECTED: dict[int, str] = {
    200: "IURUUU",  # card, success no card, FAIL, FAIL with a card, other status, no envelope
    201: "IURUUU",
    302: "UUUUUU",
    303: "UUUUUU",
    409: "UUUUUU",
    429: "URRURR",
    400: "UURURR",
    401: "UURURR",
    404: "UURURR",
    408: "UURURR",
    422: "UURURR",
    500: "UUUUUU",
    502: "UUUUUU",
    503: "UUUUUU",
    600: "UUUUUU",
}
CASES = [
    (status, kind, EXPECTED[status][column])
    for status in EXPECTED
    for column, kind in enumerate(BODIES)
]


def answer_with(status_code: int, body: bytes) -> Any:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status_code, content=body, headers={"Retry-After": "0"})

    return handler


async def create(gp: AsyncGatePay, title: str = "outcome") -> GiftCard:
    return await gp.gift_cards.create(
        title=title, template_id=TEMPLATE_ID, currency="USDT", amount=Decimal("1.50")
    )


def spec(ref: str, **fields: Any) -> CardSpec:
    values: dict[str, Any] = {
        "title": ref,
        "template_id": TEMPLATE_ID,
        "currency": "USDT",
        "amount": "1.50",
    }
    values.update(fields)
    return CardSpec(ref=ref, **values)


async def run(gp: AsyncGatePay, items: list[CardSpec], **options: Any) -> dict[str, BulkResult]:
    async with gp.gift_cards.create_many(items, **options) as results:
        return {r.ref: r async for r in results}


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_expected_table_covers_every_status_class_and_body() -> None:
    classes = {outcome_module.status_class(code) for code in EXPECTED}
    assert classes == set(outcome_module.STATUS_CLASSES)
    assert list(BODIES) == list(outcome_module.BODY_KINDS)


# ------------------------------------------------------------------------ the table


@pytest.mark.anyio
@pytest.mark.parametrize(("status_code", "kind", "expected"), CASES)
async def test_create_decides_each_cell(status_code: int, kind: str, expected: str) -> None:
    body = BODIES[kind]
    async with mock_client(answer_with(status_code, body), max_retries=0) as gp:
        if expected == "I":
            card = await create(gp)
            assert (card.card_number, card.key) == (NUMBER, KEY)
            return
        with pytest.raises((APIError, OutcomeUnknownError)) as info:
            await create(gp)
    exc = info.value
    if expected == "R":
        assert isinstance(exc, APIError)
        assert exc.status_code == status_code
    else:
        assert isinstance(exc, OutcomeUnknownError)
        assert exc.status_code == status_code  # the raw answer, on the exception...
        assert exc.raw_body == body
        assert exc.answer is not None
        assert not leaked_pieces(KEY, raised_texts(exc))  # ...never in its text
        assert not leaked_pieces(KEY, repr(exc.answer))


@pytest.mark.anyio
@pytest.mark.parametrize(("status_code", "kind", "expected"), CASES)
async def test_create_many_decides_each_cell_the_same_way(
    status_code: int, kind: str, expected: str, tmp_path: Path
) -> None:
    body = BODIES[kind]
    state = {"I": BulkState.ISSUED, "R": BulkState.FAILED, "U": BulkState.UNKNOWN}[expected]
    path = tmp_path / "j"
    async with mock_client(answer_with(status_code, body), max_retries=0) as gp:
        result = (await run(gp, [spec("row")], journal=path))["row"]
    assert result.state is state
    if expected == "I":
        assert result.card is not None
        assert result.card.key == KEY
    if expected == "U":
        assert isinstance(result.exception, OutcomeUnknownError)
        assert result.exception.raw_body == body
        unknown = [r for r in records(path) if r["op"] == "unknown"]
        assert unknown[-1]["answer"] == {"status": status_code, "body": body.decode()}


@pytest.mark.anyio
@pytest.mark.parametrize(("status_code", "kind", "expected"), CASES)
async def test_the_internal_create_returns_the_raw_answer_and_its_outcome(
    status_code: int, kind: str, expected: str
) -> None:
    body = BODIES[kind]
    request = build_create_request(
        title="outcome", template_id=TEMPLATE_ID, currency="USDT", amount="1.50"
    )
    async with mock_client(answer_with(status_code, body), max_retries=0) as gp:
        result = await gp.gift_cards._send_create(outcome_module.CreateCall(request))
    assert (
        result.outcome
        is {"I": Outcome.ISSUED, "R": Outcome.REFUSED, "U": Outcome.UNKNOWN}[expected]
    )
    assert result.answer is not None
    assert (result.answer.status_code, result.answer.content) == (status_code, body)
    assert (result.card is None) == (expected != "I")
    assert (result.error is None) == (expected == "I")


@pytest.mark.anyio
async def test_create_and_create_many_use_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both go through that one internal create (no second copy of its logic)."""
    titles: list[str] = []
    internal = AsyncGiftCards._send_create

    def seen(self: AsyncGiftCards, call: Any) -> Any:
        titles.append(call.request.title)
        return internal(self, call)  # what the caller awaits (in the sync facade: the outcome)

    monkeypatch.setattr(AsyncGiftCards, "_send_create", seen)
    async with mock_client(answer_with(200, BODIES["card"])) as gp:
        await create(gp, title="one")
        await run(gp, [spec("many")])
    assert titles == ["one", "many"]


@pytest.mark.anyio
async def test_no_answer_is_not_sent_or_unknown() -> None:
    async def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    async def reset(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset")

    async def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out")

    async with mock_client(refused, max_retries=0) as gp:
        with pytest.raises(RequestNotSentError):
            await create(gp)
    for lost in (reset, slow):
        async with mock_client(lost, max_retries=0) as gp:
            with pytest.raises(OutcomeUnknownError) as info:
                await create(gp)
        assert info.value.answer is None


# ------------------------------------------------------------------------ odd SUCCESS


ODD_BUT_ISSUED = {
    "date as text": card_data(create_time="yesterday at noon"),
    "count as a word": card_data(give_count="three"),
    "amount as a word": card_data(amount="one fifty"),
    "currency as an object": card_data(currency={"code": "USDT"}),
    "status unheard of": card_data(status="SHINY"),
    "number as a JSON integer": card_data(card_num=42),
    "camelCase and extras": {"cardNumber": NUMBER, "key": KEY, "batchId": 7, "reason": None},
}
NOT_ISSUED = {
    "empty key": card_data(card_key=""),
    "blank key": card_data(card_key="   "),
    "missing number": {k: v for k, v in card_data().items() if k != "card_num"},
    "empty number": card_data(card_num=""),
    "key as an object": card_data(card_key={"k": KEY}),
    "data null": None,
}


@pytest.mark.anyio
@pytest.mark.parametrize("name", list(ODD_BUT_ISSUED))
async def test_an_odd_success_with_number_and_key_is_issued(name: str, tmp_path: Path) -> None:
    data = ODD_BUT_ISSUED[name]
    async with mock_client(answer_with(200, envelope(data))) as gp:
        card = await create(gp)
        # The same request both ways: a card comes back with the title it was issued with.
        result = (await run(gp, [spec("row", title="outcome")], journal=tmp_path / "j"))["row"]
    assert card.key == KEY
    assert card.card_number in (NUMBER, "42")
    assert result.state is BulkState.ISSUED
    assert result.card == card
    if name == "date as text":
        assert card.created_at is None
        assert card.extra["create_time"] == "yesterday at noon"
    if name == "count as a word":
        assert card.give_count is None
        assert card.extra["give_count"] == "three"


@pytest.mark.anyio
@pytest.mark.parametrize("name", list(NOT_ISSUED))
async def test_a_success_without_a_usable_number_or_key_is_unknown(name: str) -> None:
    body = envelope(NOT_ISSUED[name])
    async with mock_client(answer_with(200, body)) as gp:
        with pytest.raises(OutcomeUnknownError) as info:
            await create(gp)
        result = (await run(gp, [spec("row")]))["row"]
    assert info.value.raw_body == body
    assert result.state is BulkState.UNKNOWN


# ------------------------------------------------------------------------ raw answer


@pytest.mark.anyio
async def test_the_raw_answer_is_in_the_journal_before_it_is_interpreted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "j"
    body = envelope(card_data(create_time="not a date"))
    seen_at_interpretation: list[list[str]] = []
    interpret = outcome_module.create_answer

    def watching(request: Any, response: httpx.Response, **kwargs: Any) -> GiftCard:
        seen_at_interpretation.append([r["op"] for r in records(path)])
        return interpret(request, response, **kwargs)

    monkeypatch.setattr(outcome_module, "create_answer", watching)
    async with mock_client(answer_with(200, body)) as gp:
        results = await run(gp, [spec("row")], journal=path)
    assert results["row"].state is BulkState.ISSUED
    # already in the file (written and flushed) when the answer was first looked at
    assert seen_at_interpretation == [["journal", "intent", "answer"]]
    answer = next(r for r in records(path) if r["op"] == "answer")
    assert answer["status"] == 200
    assert answer["body"].encode() == body
    assert answer["request"]["amount"] == "1.5"  # as the intent records it


@pytest.mark.anyio
async def test_a_rerun_recovers_the_card_from_a_recorded_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "j"
    sends: list[int] = []

    async def gatepay(request: httpx.Request) -> httpx.Response:
        sends.append(1)
        return httpx.Response(200, content=envelope(card_data(give_count="many")))

    # An earlier run whose rules could not read this answer: it recorded it as unknown.
    stricter = dict(outcome_module.DECISIONS)
    stricter[("2xx", "card")] = outcome_module.Outcome.UNKNOWN
    monkeypatch.setattr(outcome_module, "DECISIONS", stricter)
    async with mock_client(gatepay) as gp:
        first = (await run(gp, [spec("row")], journal=path))["row"]
    assert first.state is BulkState.UNKNOWN
    monkeypatch.undo()

    async with mock_client(gatepay) as gp:  # even when asked to resend unknowns
        again = (await run(gp, [spec("row")], journal=path, retry_unknown=True))["row"]
    assert sends == [1]  # never sent again
    assert again.state is BulkState.ISSUED
    assert again.from_journal
    assert again.card is not None
    assert (again.card.card_number, again.card.key) == (NUMBER, KEY)


@pytest.mark.anyio
async def test_a_run_stopped_after_recording_the_answer_recovers_the_card(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j"
    request = build_create_request(
        title="row", template_id=TEMPLATE_ID, currency="USDT", amount="1.50"
    )
    with Journal.open(path) as journal:  # what a run killed while deciding leaves
        journal.record_intent("row", request)
        journal.record_answer("row", request, 200, envelope(card_data()))
    sends: list[int] = []

    async def gatepay(request: httpx.Request) -> httpx.Response:
        sends.append(1)
        return httpx.Response(200, content=envelope(card_data(card_key="OTHER")))

    async with mock_client(gatepay) as gp:
        result = (await run(gp, [spec("row")], journal=path, retry_unknown=True))["row"]
    assert sends == []
    assert result.state is BulkState.ISSUED
    assert result.card is not None
    assert result.card.key == KEY


@pytest.mark.anyio
async def test_a_failed_answer_write_keeps_the_card_and_sends_nothing_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(*args: Any) -> None:
        raise JournalError("cannot write to the journal: No space left on device")

    monkeypatch.setattr(Journal, "record_answer", disk_full)
    seen: list[BulkResult] = []
    async with mock_client(answer_with(200, envelope(card_data()))) as gp:
        # The run hands out every result, then ends with the journal's error (fail-stop).
        with pytest.raises(JournalError):
            async for _ in gp.gift_cards.create_many(
                [spec("row")], journal=tmp_path / "j", on_progress=seen.append
            ):
                pass
    assert seen[0].state is BulkState.ISSUED  # the answer was still decided: key kept
    assert seen[0].card is not None
    assert seen[0].card.key == KEY

    sends: list[int] = []

    async def busy(request: httpx.Request) -> httpx.Response:
        sends.append(1)
        return httpx.Response(429, headers={"Retry-After": "0"}, content=b"{}")

    results: list[BulkResult] = []
    async with mock_client(busy) as gp:
        with pytest.raises(JournalError):
            async for _ in gp.gift_cards.create_many(
                [spec("busy")], journal=tmp_path / "j2", on_progress=results.append
            ):
                pass
    assert sends == [1]  # no send after the failed write
    assert "JournalError" in (results[0].error or "")


# ------------------------------------------------------------------------ one retry loop


@pytest.mark.anyio
async def test_a_row_refused_with_429_every_time_is_sent_at_most_8_times(
    sandbox: SandboxServer,
) -> None:
    sandbox.sandbox.inject(parse_fault("create:status=429,retry_after=0"))
    async with client_at(sandbox.url) as gp:  # max_retries=2, the default
        results = await run(gp, [spec("busy")])
        bulk_sends = sandbox.sandbox.attempts("create")
        sandbox.sandbox.reset_counters()
        with pytest.raises(APIError):
            await create(gp)
        create_sends = sandbox.sandbox.attempts("create")
    assert results["busy"].state is BulkState.FAILED
    assert "refused 8 times" in (results["busy"].error or "")
    assert bulk_sends == 8
    assert create_sends == 3  # create alone: max_retries + 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.anyio
async def test_an_unreachable_server_stops_a_bulk_run_early() -> None:
    attempts: list[str] = []

    async def count(request: httpx.Request) -> None:
        attempts.append(request.url.path)

    http_client = httpx.AsyncClient(event_hooks={"request": [count]})
    gp = AsyncGatePay(
        client_id="outcome-client",
        secret_key="outcome-secret",
        base_url=f"http://127.0.0.1:{free_port()}",  # nothing listens: connection refused
        http_client=http_client,
    )
    rows = [spec(f"row-{i}") for i in range(200)]
    started = async_monotonic()
    async with gp:
        results = await run(gp, rows, concurrency=4)
    await http_client.aclose()
    elapsed = async_monotonic() - started
    assert all(r.state is BulkState.FAILED for r in results.values())
    assert len(attempts) <= 4 * 3  # the rows in flight, each with its retries; no more
    assert "could not be reached" in (results["row-199"].error or "")
    assert elapsed < 10


# ------------------------------------------------------------------------ changed rows


@pytest.mark.anyio
async def test_a_changed_row_is_flagged_and_never_resent(tmp_path: Path) -> None:
    path = tmp_path / "j"
    sends: list[str] = []

    async def gatepay(request: httpx.Request) -> httpx.Response:
        title = json.loads(request.content)["title"]
        sends.append(title)
        if title.startswith("lost"):
            raise httpx.ReadError("connection reset")
        return httpx.Response(200, content=envelope(card_data()))

    rows = [spec("same"), spec("amount"), spec("title"), spec("lost")]
    async with mock_client(gatepay) as gp:
        first = await run(gp, rows, journal=path)
        assert [first[r].state for r in ("same", "amount", "lost")] == [
            BulkState.ISSUED,
            BulkState.ISSUED,
            BulkState.UNKNOWN,
        ]
        sends.clear()
        changed = [
            spec("same", amount="1.5000"),  # the same amount, written otherwise
            spec("amount", amount="2.50"),
            spec("title", title="other title", currency="EUR"),
            spec("lost", template_id="1"),
        ]
        again = await run(gp, changed, journal=path, retry_unknown=True)
    assert sends == []  # nothing is resent
    assert again["same"].changed == ()
    assert again["amount"].changed == ("amount",)
    assert again["title"].changed == ("title", "currency")
    assert again["lost"].changed == ("template_id",)
    assert again["amount"].state is BulkState.ISSUED  # the card is still reported
    assert again["amount"].card is not None
    assert "changed: amount" in (again["amount"].error or "")
    assert again["lost"].state is BulkState.UNKNOWN

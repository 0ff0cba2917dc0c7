"""Per-call and per-client options, raw responses, error headers and attempts, the
default httpx client and the closed client (issue: a complete SDK)."""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from gatepay_async import (
    APITimeoutError,
    AsyncGatePay,
    CardSpec,
    DefaultAsyncHttpxClient,
    GatePayError,
    InvalidRequestError,
    OutcomeUnknownError,
    ServerError,
    ValidationError,
)
from gatepay_async._http.sharding import LazyPools
from gatepay_async._primitives.synchronization import async_sleep
from gatepay_async.sandbox import SandboxServer
from gatepay_async.sandbox._faults import parse_fault
from tests import helpers
from tests._async.conftest import client_at, create, mock_client


@pytest.mark.anyio
async def test_with_options_shares_pools_clock_and_ledger_and_closing_it_closes_nothing(
    tmp_path: object,
) -> None:
    recorder = helpers.Recorder(helpers.raw(500, "down"), helpers.success([]))
    async with mock_client(recorder, ledger=f"sqlite:///{tmp_path}/l.db") as gp:
        fast = gp.with_options(timeout=5.0, max_retries=0)
        assert type(fast) is type(gp)
        assert fast._http_client is gp._http_client
        assert fast.clock is gp.clock
        assert fast._idempotency_ledger is gp._idempotency_ledger
        with pytest.raises(ServerError):  # max_retries=0: one send, no retry
            await fast.gift_cards.list_templates()
        assert recorder.count == 1
        assert recorder.sent[0].extensions["timeout"]["read"] == 5.0
        await fast.aclose()
        with pytest.raises(GatePayError, match="closed"):
            await fast.gift_cards.list_templates()
        assert await gp.gift_cards.list_templates() == []  # the original still works
        assert recorder.sent[1].extensions["timeout"]["read"] == 30.0


@pytest.mark.anyio
async def test_a_call_takes_its_own_timeout_and_extra_headers() -> None:
    recorder = helpers.Recorder(helpers.success([]))
    async with mock_client(recorder) as gp:
        await gp.gift_cards.list_templates(timeout=2.0, extra_headers={"X-Trace-Id": "t-1"})
        await gp.gift_cards.list_templates()
    assert recorder.sent[0].headers["X-Trace-Id"] == "t-1"
    assert recorder.sent[0].extensions["timeout"]["read"] == 2.0
    assert "X-Trace-Id" not in recorder.sent[1].headers
    helpers.assert_signed(recorder.sent[0])


@pytest.mark.anyio
async def test_a_call_timeout_cuts_the_attempt_on_the_direct_path(
    sandbox: SandboxServer,
) -> None:
    sandbox.sandbox.inject(parse_fault("templates:latency,latency=1.0"))
    async with client_at(sandbox.url, max_retries=0) as gp:
        started = time.perf_counter()
        with pytest.raises(GatePayError) as caught:
            await gp.gift_cards.list_templates(timeout=0.2)
        assert time.perf_counter() - started < 0.9
    assert "timeout" in str(caught.value).lower() or "timed out" in str(caught.value)


@pytest.mark.anyio
async def test_a_call_timeout_cuts_the_attempt_through_the_httpx_client_too() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await async_sleep(1.0)
        return helpers.success([])

    async with mock_client(slow, max_retries=0) as gp:
        # The client's own 30 s would let this answer through. (A sync mock handler cannot
        # be cut mid-sleep: the attempt is refused once it returns, past its deadline.)
        with pytest.raises(APITimeoutError, match=r"0\.2 s"):
            await gp.gift_cards.list_templates(timeout=0.2)
        with pytest.raises(ValidationError) as caught:
            await gp.gift_cards.list_templates(timeout=-1)
        assert caught.value.argument == "timeout"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "operation", ["list_templates", "create", "query", "balance", "merchant_balance", "wait"]
)
async def test_every_operation_sends_extra_headers_that_still_verify(
    sandbox: SandboxServer, operation: str
) -> None:
    headers = {"X-Trace-Id": "trace-42"}
    async with client_at(sandbox.url) as gp:
        card = await create(gp)
        gc = gp.gift_cards
        if operation == "list_templates":
            await gc.list_templates(timeout=5, extra_headers=headers)
        elif operation == "create":
            await gc.create(
                title="T", template_id=helpers.TEMPLATE_ID, currency="USDT",
                amount=Decimal("1"), timeout=5, extra_headers=headers,
            )  # fmt: skip
        elif operation == "query":
            await gc.query(key=card.key, timeout=5, extra_headers=headers)
        elif operation == "balance":
            await gc.balance(key=card.key, timeout=5, extra_headers=headers)
        elif operation == "merchant_balance":
            await gc.merchant_balance(timeout=5, extra_headers=headers)
        else:
            await gc.wait_for_status(
                key=card.key, statuses=card.status, timeout=5, extra_headers=headers
            )


@pytest.mark.anyio
@pytest.mark.parametrize(
    "name", ["X-GatePay-Signature", "x-gatepay-timestamp", "Content-Type", "Host"]
)
async def test_extra_headers_may_not_replace_the_sdks_own(name: str) -> None:
    recorder = helpers.Recorder(helpers.success([]))
    async with mock_client(recorder) as gp:
        with pytest.raises(ValidationError) as caught:
            await gp.gift_cards.list_templates(extra_headers={name: "x"})
        with pytest.raises(ValidationError):
            await create_with(gp, extra_headers={name: "x"})
    assert caught.value.argument == "extra_headers"
    assert recorder.count == 0


async def create_with(gp: AsyncGatePay, **options: object) -> object:
    return await gp.gift_cards.create(
        title="Holiday", template_id=helpers.TEMPLATE_ID, currency="USDT",
        amount=Decimal("0.99"), **options,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.mark.anyio
async def test_raw_response_of_every_operation_parses_to_the_plain_result(
    sandbox: SandboxServer,
) -> None:
    async with client_at(sandbox.url) as gp:
        raw = await gp.gift_cards.with_raw_response.create(
            title="Holiday", template_id=helpers.TEMPLATE_ID, currency="USDT", amount="0.99"
        )
        assert raw.status_code == 200
        assert isinstance(raw.headers, httpx.Headers)
        card = raw.parse()
        assert card.title == "Holiday"
        rc = gp.gift_cards.with_raw_response
        templates = await rc.list_templates()
        assert templates.parse() == await gp.gift_cards.list_templates()
        assert (await rc.query(key=card.key)).parse().card_number == card.card_number
        assert (await rc.balance(key=card.key)).parse().card_number == card.card_number
        assert (await rc.merchant_balance()).status_code == 200
        waited = await rc.wait_for_status(key=card.key, statuses=card.status, timeout=5)
        assert waited.parse().card_number == card.card_number


@pytest.mark.anyio
async def test_raw_response_of_a_refusal_raises_the_same_error_with_headers() -> None:
    refusal = helpers.fail("400001", status_code=400, headers={"X-Request-Id": "r-9"})
    async with mock_client(helpers.Recorder(refusal)) as gp:
        raw = await gp.gift_cards.with_raw_response.create(
            title="Holiday", template_id=helpers.TEMPLATE_ID, currency="USDT", amount="0.99"
        )
        assert raw.status_code == 400
        assert raw.headers["X-Request-Id"] == "r-9"
        with pytest.raises(InvalidRequestError) as caught:
            raw.parse()
        assert caught.value.headers is not None
        assert caught.value.headers["X-Request-Id"] == "r-9"


@pytest.mark.anyio
async def test_raw_create_of_an_unknown_outcome_keeps_status_headers_and_answer() -> None:
    answer = helpers.raw(502, "bad gateway", headers={"X-Request-Id": "r-5"})
    recorder = helpers.Recorder(answer)
    async with mock_client(recorder) as gp:
        raw = await gp.gift_cards.with_raw_response.create(
            title="Holiday", template_id=helpers.TEMPLATE_ID, currency="USDT", amount="0.99"
        )
        assert (raw.status_code, raw.headers["X-Request-Id"]) == (502, "r-5")
        with pytest.raises(OutcomeUnknownError) as caught:
            raw.parse()
        assert caught.value.answer is not None
        assert caught.value.answer.status_code == 502
    assert recorder.count == 1  # never resent


@pytest.mark.anyio
async def test_raw_create_without_an_answer_raises_as_the_plain_create() -> None:
    lost = httpx.ReadError("connection reset")
    async with mock_client(helpers.Recorder(lost)) as gp:
        with pytest.raises(OutcomeUnknownError):
            await gp.gift_cards.with_raw_response.create(
                title="Holiday", template_id=helpers.TEMPLATE_ID, currency="USDT", amount="0.99"
            )


@pytest.mark.anyio
async def test_errors_after_retries_carry_attempts_headers_and_each_retry_is_logged(
    fast_retries: None, caplog: pytest.LogCaptureFixture
) -> None:
    answer = helpers.raw(503, "busy", headers={"X-Request-Id": "r-1"})
    recorder = helpers.Recorder(answer)
    caplog.set_level(logging.INFO, logger="gatepay")
    async with mock_client(recorder, max_retries=2) as gp:
        with pytest.raises(ServerError) as caught:
            await gp.gift_cards.list_templates()
    assert recorder.count == 3
    assert caught.value.attempts == 3
    assert "after 3 attempts" in str(caught.value)
    assert caught.value.headers is not None
    assert caught.value.headers["X-Request-Id"] == "r-1"
    retries = [r for r in caplog.records if r.name == "gatepay" and "retrying in" in r.message]
    assert len(retries) == 2
    assert all(r.levelno == logging.INFO and "ServerError" in r.message for r in retries)


@pytest.mark.anyio
async def test_create_returns_the_card_as_issued_and_gatepays_values_win() -> None:
    data = helpers.card_data()
    del data["amount"]
    data["currency"] = "BTC"  # GatePay's own value wins
    async with mock_client(helpers.Recorder(helpers.success(data))) as gp:
        card = await create(gp)
    assert card.title == "Holiday"
    assert card.template_id == helpers.TEMPLATE_ID
    assert card.amount == Decimal("0.99")
    assert card.currency == "BTC"


@pytest.mark.anyio
async def test_an_http_client_of_the_wrong_kind_is_a_type_error() -> None:
    # The other facade's kind: httpx.Client here, httpx.AsyncClient in the sync twin.
    own_is_async = AsyncGatePay.__name__.startswith("Async")
    other_kind = httpx.Client if own_is_async else getattr(httpx, "Async" + "Client")
    wrong = other_kind()
    try:
        with pytest.raises(TypeError, match="http_client"):
            AsyncGatePay(client_id="c", secret_key="s", base_url="http://x", http_client=wrong)
    finally:
        if own_is_async:
            wrong.close()


@pytest.mark.anyio
async def test_a_closed_client_raises_a_gatepay_error_saying_so() -> None:
    recorder = helpers.Recorder(helpers.success([]))
    gp = mock_client(recorder)
    await gp.aclose()
    with pytest.raises(GatePayError, match="is closed"):
        await gp.gift_cards.list_templates()
    with pytest.raises(GatePayError, match="is closed"):
        await create(gp)
    assert recorder.count == 0


@pytest.mark.anyio
async def test_default_httpx_client_keeps_the_sdk_defaults_and_takes_proxy_and_tls(
    sandbox: SandboxServer,
) -> None:
    async with DefaultAsyncHttpxClient(verify=False, http2=False) as http_client:
        transport = http_client._transport
        assert getattr(transport, "DIRECT_SEND_SAFE", False)
        assert http_client.follow_redirects is False
        assert http_client.timeout.read == 30.0
        pools: LazyPools[object] = transport._pools  # type: ignore[attr-defined]
        assert len(pools._pools) == 32  # 256 connections over pools of 8
        gp = client_at(sandbox.url, http_client=http_client)
        assert (await gp.gift_cards.list_templates()) is not None
        await gp.aclose()
        assert not http_client.is_closed  # the caller's
    proxied = DefaultAsyncHttpxClient(proxy="http://127.0.0.1:9")
    pool = proxied._transport._pools.get(0)  # type: ignore[attr-defined]
    assert "Proxy" in type(pool._pool).__name__
    await proxied.aclose()


@pytest.mark.anyio
async def test_create_many_results_journal_read_backs_and_ledger_replays_carry_the_title(
    tmp_path: Path,
) -> None:
    answer = helpers.success(helpers.card_data())  # GatePay's create answer: no title
    specs = [
        CardSpec(
            ref="a", title="Spring", template_id=helpers.TEMPLATE_ID, currency="USDT", amount="2"
        )
    ]
    recorder = helpers.Recorder(answer)
    async with mock_client(recorder, ledger=f"sqlite:///{tmp_path}/ledger.db") as gp:
        async with gp.gift_cards.create_many(specs, journal=tmp_path / "j.jsonl") as results:
            first = [result async for result in results]
        async with gp.gift_cards.create_many(specs, journal=tmp_path / "j.jsonl") as results:
            again = [result async for result in results]
        created = await gp.gift_cards.create(
            title="Once", template_id=helpers.TEMPLATE_ID, currency="USDT", amount="1",
            idempotency_key="order-1",
        )  # fmt: skip
        replayed = await gp.gift_cards.create(
            title="Once", template_id=helpers.TEMPLATE_ID, currency="USDT", amount="1",
            idempotency_key="order-1",
        )  # fmt: skip
    assert first[0].card is not None
    assert first[0].card.title == "Spring"
    assert again[0].from_journal
    assert again[0].card == first[0].card
    assert created.title == "Once"
    assert replayed == created
    assert recorder.count == 2  # the run's create and the keyed one; nothing resent


@pytest.mark.anyio
async def test_an_errors_headers_render_without_the_key_a_redirect_echoes() -> None:
    location = f"https://elsewhere.test/balance?key={helpers.CARD_KEY}"
    answer = helpers.raw(
        302, "", headers={"Location": location, "Set-Cookie": f"session={helpers.CARD_KEY}"}
    )
    async with mock_client(helpers.Recorder(answer), max_retries=0) as gp:
        with pytest.raises(GatePayError) as caught:
            await gp.gift_cards.balance(key=helpers.CARD_KEY)
    headers = caught.value.headers
    assert headers is not None
    assert headers["location"] == location  # the values are the caller's, as received
    for text in (repr(headers), str(caught.value), repr(caught.value)):
        assert helpers.CARD_KEY[:12] not in text
        assert helpers.CARD_KEY[-12:] not in text

"""Which failures are retried, how often, and what is raised in the end."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx
import pytest

from gatepay_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncGatePay,
    AuthenticationError,
    GatePayError,
    InvalidRequestError,
    OutcomeUnknownError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
)
from tests.helpers import (
    CARD_KEY,
    CARD_NUMBER,
    TEMPLATE_ID,
    Recorder,
    assert_signed,
    card_data,
    fail,
    http_date,
    raw,
    success,
    use_fast_backoff,
)

from .conftest import answer_for, call, create, mock_client


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_backoff(monkeypatch)


#: This file's short names: a query is by card number, a balance by key.
OPERATIONS = {"query": "query_card_number", "balance": "balance_key"}


async def run(gp: AsyncGatePay, operation: str) -> Any:
    return await call(gp, OPERATIONS.get(operation, operation))


READS = ["query", "balance", "list_templates"]

#: (name, scripted failure, exception class raised once retries are spent)
RETRIED_FAILURES: list[tuple[str, Any, type[GatePayError]]] = [
    ("connect_error", httpx.ConnectError("connection refused"), APIConnectionError),
    ("connect_timeout", httpx.ConnectTimeout("connect timed out"), APITimeoutError),
    ("read_timeout", httpx.ReadTimeout("timed out"), APITimeoutError),
    ("remote_protocol", httpx.RemoteProtocolError("server disconnected"), APIConnectionError),
    ("read_error", httpx.ReadError("connection reset"), APIConnectionError),
    ("http_429", raw(429, "{}"), RateLimitError),
    ("http_500", raw(500, "{}"), ServerError),
    ("http_502", raw(502, "<html>bad gateway</html>"), ServerError),
    ("http_503", raw(503, ""), ServerError),
]


# ------------------------------------------------------------------------ reads


@pytest.mark.anyio
@pytest.mark.parametrize("operation", READS)
@pytest.mark.parametrize(("name", "failure", "raised"), RETRIED_FAILURES)
async def test_reads_retry_transient_failures_up_to_max_retries(
    operation: str, name: str, failure: Any, raised: type[GatePayError]
) -> None:
    recorder = Recorder(failure)
    async with mock_client(recorder, max_retries=2) as gp:
        with pytest.raises(raised) as info:
            await run(gp, operation)
        assert recorder.count == 3
    if raised is APIConnectionError:
        assert not isinstance(info.value, APITimeoutError)
    for sent in recorder.sent:
        assert_signed(sent)


@pytest.mark.anyio
@pytest.mark.parametrize("operation", READS)
@pytest.mark.parametrize(("name", "failure", "raised"), RETRIED_FAILURES)
async def test_reads_recover_after_a_transient_failure(
    operation: str, name: str, failure: Any, raised: type[GatePayError]
) -> None:
    recorder = Recorder(failure, failure, answer_for(operation))
    async with mock_client(recorder, max_retries=2) as gp:
        result = await run(gp, operation)
    assert result is not None
    assert recorder.count == 3


@pytest.mark.anyio
@pytest.mark.parametrize("operation", READS)
@pytest.mark.parametrize(("name", "failure", "raised"), RETRIED_FAILURES)
async def test_max_retries_zero_means_one_attempt(
    operation: str, name: str, failure: Any, raised: type[GatePayError]
) -> None:
    recorder = Recorder(failure, answer_for(operation))
    async with mock_client(recorder, max_retries=0) as gp:
        with pytest.raises(raised):
            await run(gp, operation)
        assert recorder.count == 1


@pytest.mark.anyio
@pytest.mark.parametrize("max_retries", [1, 3, 5])
async def test_attempts_follow_max_retries(max_retries: int) -> None:
    recorder = Recorder(raw(503, "{}"))
    async with mock_client(recorder, max_retries=max_retries) as gp:
        with pytest.raises(ServerError):
            await gp.gift_cards.list_templates()
        assert recorder.count == max_retries + 1


@pytest.mark.anyio
async def test_default_max_retries_is_two() -> None:
    recorder = Recorder(raw(503, "{}"))
    async with mock_client(recorder) as gp:
        with pytest.raises(ServerError):
            await gp.gift_cards.list_templates()
        assert recorder.count == 3


@pytest.mark.anyio
@pytest.mark.parametrize("operation", READS)
@pytest.mark.parametrize(
    ("response", "raised"),
    [
        (fail("400001", status_code=400), InvalidRequestError),
        (fail("400001"), InvalidRequestError),
        (fail("400002", status_code=401), AuthenticationError),
        (raw(403, "forbidden"), AuthenticationError),
        (raw(200, "<html>not json</html>"), ResponseValidationError),
    ],
)
async def test_reads_do_not_retry_client_errors(
    operation: str, response: httpx.Response, raised: type[GatePayError]
) -> None:
    recorder = Recorder(response, answer_for(operation))
    async with mock_client(recorder, max_retries=2) as gp:
        with pytest.raises(raised):
            await run(gp, operation)
        assert recorder.count == 1


@pytest.mark.anyio
async def test_unsupported_protocol_is_not_retried() -> None:
    recorder = Recorder(httpx.UnsupportedProtocol("no such scheme"))
    async with mock_client(recorder, max_retries=2) as gp:
        with pytest.raises(APIConnectionError):
            await gp.gift_cards.list_templates()
        assert recorder.count == 1


# ------------------------------------------------------------------------ create


@pytest.mark.anyio
@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("connection refused"), httpx.ConnectTimeout("connect timed out")],
    ids=["connect_error", "connect_timeout"],
)
async def test_create_retries_when_the_connection_was_never_made(failure: Any) -> None:
    recorder = Recorder(failure)
    async with mock_client(recorder, max_retries=2) as gp:
        with pytest.raises(APIConnectionError) as info:
            await create(gp)
        assert not isinstance(info.value, OutcomeUnknownError)
    assert info.value.request_sent is False
    assert recorder.count == 3


@pytest.mark.anyio
async def test_create_succeeds_after_connect_errors() -> None:
    failure = httpx.ConnectError("connection refused")
    recorder = Recorder(failure, failure, success(card_data()))
    async with mock_client(recorder, max_retries=2) as gp:
        card = await create(gp)
    assert card.card_number == CARD_NUMBER
    assert recorder.count == 3
    assert len({sent.content for sent in recorder.sent}) == 1


@pytest.mark.anyio
async def test_create_retries_429() -> None:
    recorder = Recorder(raw(429, "{}", headers={"Retry-After": "0"}))
    async with mock_client(recorder, max_retries=2) as gp:
        with pytest.raises(RateLimitError):
            await create(gp)
        assert recorder.count == 3


@pytest.mark.anyio
async def test_create_succeeds_after_429() -> None:
    recorder = Recorder(raw(429, "{}", headers={"Retry-After": "0"}), success(card_data()))
    async with mock_client(recorder, max_retries=2) as gp:
        card = await create(gp)
    assert card.key == CARD_KEY
    assert recorder.count == 2


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("failure", "cause"),
    [
        (httpx.ReadTimeout("timed out"), APITimeoutError),
        (httpx.WriteTimeout("write timed out"), APITimeoutError),
        (httpx.RemoteProtocolError("server disconnected"), APIConnectionError),
        (httpx.ReadError("connection reset by peer"), APIConnectionError),
    ],
    ids=["read_timeout", "write_timeout", "remote_protocol", "read_error"],
)
async def test_create_that_may_have_arrived_is_never_resent(
    failure: Any, cause: type[Exception]
) -> None:
    recorder = Recorder(failure, success(card_data()))
    async with mock_client(recorder, max_retries=2) as gp:
        with pytest.raises(OutcomeUnknownError) as info:
            await create(gp)
        assert recorder.count == 1
    exc = info.value
    assert exc.title == "Holiday"
    assert exc.template_id == TEMPLATE_ID
    assert exc.currency == "USDT"
    assert exc.amount == Decimal("0.99")
    assert isinstance(exc.amount, Decimal)
    assert isinstance(exc.cause, cause)
    assert exc.__cause__ is exc.cause
    assert "not resent" in str(exc).lower()
    assert "may have been issued" in str(exc)


@pytest.mark.anyio
@pytest.mark.parametrize("status_code", [500, 502, 503, 504])
async def test_create_does_not_retry_5xx(status_code: int) -> None:
    # A 5xx create may have issued the card before failing: its outcome is unknown,
    # the same in create and create_many, and it carries the raw answer.
    recorder = Recorder(raw(status_code, "{}"), success(card_data()))
    async with mock_client(recorder, max_retries=2) as gp:
        with pytest.raises(OutcomeUnknownError) as info:
            await create(gp)
        assert isinstance(info.value.cause, ServerError)
        assert info.value.status_code == status_code
        assert info.value.raw_body == b"{}"
    assert recorder.count == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    "response",
    [
        raw(200, "<html>proxy says hi</html>"),
        raw(200, ""),
        success(None),
        success(""),
        success(card_data(card_key="")),
        success({"card_key": CARD_KEY}),
    ],
    ids=["html", "empty", "data_null", "data_empty", "empty_key", "no_card_number"],
)
async def test_create_with_undecodable_200_is_outcome_unknown(response: httpx.Response) -> None:
    recorder = Recorder(response, success(card_data()))
    async with mock_client(recorder, max_retries=2) as gp:
        with pytest.raises(OutcomeUnknownError) as info:
            await create(gp)
        assert isinstance(info.value.cause, ResponseValidationError)
    assert recorder.count == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    "response",
    [fail("400001", status_code=400), fail("400001"), fail("400007"), raw(400, "bad")],
)
async def test_create_does_not_retry_400(response: httpx.Response) -> None:
    recorder = Recorder(response, success(card_data()))
    async with mock_client(recorder, max_retries=2) as gp:
        with pytest.raises(InvalidRequestError):
            await create(gp)
        assert recorder.count == 1


@pytest.mark.anyio
async def test_create_does_not_retry_401() -> None:
    recorder = Recorder(fail("400002", status_code=401), success(card_data()))
    async with mock_client(recorder, max_retries=2) as gp:
        with pytest.raises(AuthenticationError):
            await create(gp)
        assert recorder.count == 1


# ------------------------------------------------------------------------ Retry-After


@pytest.mark.anyio
async def test_retry_after_zero_overrides_a_long_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_backoff(monkeypatch, seconds=60.0)
    recorder = Recorder(
        raw(429, "{}", headers={"Retry-After": "0"}),
        raw(429, "{}", headers={"Retry-After": "0"}),
        answer_for("list_templates"),
    )
    started = time.monotonic()
    async with mock_client(recorder, max_retries=2) as gp:
        await gp.gift_cards.list_templates()
    assert recorder.count == 3
    assert time.monotonic() - started < 5.0


@pytest.mark.anyio
async def test_retry_after_is_waited_for() -> None:
    recorder = Recorder(
        raw(503, "{}", headers={"Retry-After": "0.3"}), answer_for("list_templates")
    )
    started = time.monotonic()
    async with mock_client(recorder, max_retries=2) as gp:
        await gp.gift_cards.list_templates()
    elapsed = time.monotonic() - started
    assert recorder.count == 2
    assert elapsed >= 0.25
    gap = recorder.sent[1].sent_at_ms - recorder.sent[0].sent_at_ms
    assert gap >= 250


@pytest.mark.anyio
async def test_retry_after_http_date_in_the_past_is_no_wait() -> None:
    recorder = Recorder(
        raw(429, "{}", headers={"Retry-After": http_date(-3600)}), answer_for("query")
    )
    started = time.monotonic()
    async with mock_client(recorder, max_retries=1) as gp:
        await gp.gift_cards.query(card_number=CARD_NUMBER)
    assert recorder.count == 2
    assert time.monotonic() - started < 5.0


# ------------------------------------------------------------------------ timestamp refused


def refused_for_timestamp(status_code: int, date: str | None) -> httpx.Response:
    headers = {"Date": date} if date else {}
    return fail(
        "400003",
        status_code=status_code,
        label="Timestamp expired",
        message="request timestamp is outside the allowed window",
        headers=headers,
    )


@pytest.mark.anyio
@pytest.mark.parametrize("status_code", [200, 401])
@pytest.mark.parametrize("operation", ["create", "query", "list_templates"])
async def test_timestamp_refusal_teaches_the_clock_and_resends_once(
    status_code: int, operation: str
) -> None:
    recorder = Recorder(refused_for_timestamp(status_code, http_date(60)), answer_for(operation))
    async with mock_client(recorder, max_retries=0) as gp:
        await run(gp, operation)
        assert 58_000 <= gp.clock.offset_ms <= 62_000
    assert recorder.count == 2
    first, second = recorder.sent
    assert_signed(first)
    assert_signed(second, offset_ms=60_000, tolerance_ms=2_000)
    ahead = int(second.headers["X-GatePay-Timestamp"]) - second.sent_at_ms
    assert 58_000 <= ahead <= 62_000
    assert first.headers["X-GatePay-Nonce"] != second.headers["X-GatePay-Nonce"]
    assert first.content == second.content


@pytest.mark.anyio
async def test_later_requests_keep_the_learned_offset() -> None:
    recorder = Recorder(refused_for_timestamp(401, http_date(60)), answer_for("list_templates"))
    async with mock_client(recorder) as gp:
        await gp.gift_cards.list_templates()
        await gp.gift_cards.list_templates()
    assert recorder.count == 3
    assert_signed(recorder.sent[2], offset_ms=60_000, tolerance_ms=2_000)


@pytest.mark.anyio
@pytest.mark.parametrize("operation", ["create", "query", "balance", "list_templates"])
async def test_timestamp_refused_twice_is_authentication_error(operation: str) -> None:
    recorder = Recorder(refused_for_timestamp(401, http_date(60)))
    async with mock_client(recorder, max_retries=2) as gp:
        with pytest.raises(AuthenticationError) as info:
            await run(gp, operation)
        assert info.value.code == "400003"
    assert recorder.count == 2


@pytest.mark.anyio
async def test_other_authentication_failures_are_not_resent() -> None:
    # The Date agrees with the client's clock: no evidence of a skew, so no re-sign.
    recorder = Recorder(fail("400002", status_code=401, headers={"Date": http_date(0)}))
    async with mock_client(recorder, max_retries=2) as gp:
        with pytest.raises(AuthenticationError):
            await gp.gift_cards.list_templates()
        assert recorder.count == 1

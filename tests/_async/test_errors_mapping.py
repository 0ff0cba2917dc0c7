"""How GatePay's answers map to exceptions, and what those exceptions carry."""

from __future__ import annotations

import json
from decimal import Decimal
from functools import partial
from typing import Any

import httpx
import pytest

from gatepay_async import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AsyncGatePay,
    AuthenticationError,
    GatePayError,
    InvalidRequestError,
    OutcomeUnknownError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    ValidationError,
)
from tests.helpers import (
    CARD_KEY,
    CARD_NUMBER,
    SECRET_KEY,
    TEMPLATE_ID,
    Recorder,
    card_data,
    fail,
    http_date,
    raw,
    success,
)

from .conftest import Handler, call, mock_client

#: No retries unless a test asks: each test sees the one answer it scripts.
make_client = partial(mock_client, max_retries=0)


#: This file's short names: a query and a balance are by key.
OPERATIONS = {"query": "query_key", "balance": "balance_key"}


async def run(gp: AsyncGatePay, operation: str) -> Any:
    return await call(gp, OPERATIONS.get(operation, operation))


async def query(handler: Handler, **kwargs: Any) -> Any:
    async with make_client(handler, **kwargs) as gp:
        return await gp.gift_cards.query(card_number=CARD_NUMBER)


# ------------------------------------------------------------------------ FAIL codes


@pytest.mark.anyio
@pytest.mark.parametrize("code", ["400001", "400007", "300001"])
async def test_invalid_request_codes(code: str) -> None:
    recorder = Recorder(
        fail(code, label="Invalid request parameters", message=f"bad parameter ({code})")
    )
    with pytest.raises(InvalidRequestError) as info:
        await query(recorder)
    exc = info.value
    assert exc.code == code
    assert exc.label == "Invalid request parameters"
    assert exc.message == f"bad parameter ({code})"
    assert exc.status_code == 200
    assert isinstance(exc.body, dict)
    assert exc.body["code"] == code
    assert code in str(exc)
    assert recorder.count == 1


@pytest.mark.anyio
@pytest.mark.parametrize("body", [None, "<html><body>Bad Request</body></html>"])
async def test_http_400_is_invalid_request(body: str | None) -> None:
    response = (
        fail("999999", status_code=400, label="odd", message="nope")
        if body is None
        else raw(400, body, headers={"Content-Type": "text/html"})
    )
    with pytest.raises(InvalidRequestError) as info:
        await query(Recorder(response))
    assert info.value.status_code == 400
    if body is not None:
        assert "Bad Request" in str(info.value.body)


@pytest.mark.anyio
@pytest.mark.parametrize("status_code", [401, 403])
async def test_http_401_403_is_authentication_error(status_code: int) -> None:
    recorder = Recorder(
        fail("400002", status_code=status_code, label="Invalid signature", message="sig")
    )
    with pytest.raises(AuthenticationError) as info:
        await query(recorder)
    exc = info.value
    assert exc.status_code == status_code
    assert exc.code == "400002"
    assert exc.label == "Invalid signature"
    assert exc.message == "sig"
    assert recorder.count == 1


@pytest.mark.anyio
@pytest.mark.parametrize("status_code", [401, 403])
async def test_http_401_403_without_envelope_is_authentication_error(status_code: int) -> None:
    with pytest.raises(AuthenticationError) as info:
        await query(Recorder(raw(status_code, "Forbidden", headers={"Content-Type": "text/plain"})))
    assert info.value.status_code == status_code
    assert info.value.code is None


@pytest.mark.anyio
async def test_429_is_rate_limit_with_retry_after_in_seconds() -> None:
    recorder = Recorder(fail("429000", status_code=429, headers={"Retry-After": "7"}))
    with pytest.raises(RateLimitError) as info:
        await query(recorder)
    assert info.value.status_code == 429
    assert info.value.retry_after == 7.0
    assert recorder.count == 1


@pytest.mark.anyio
async def test_429_retry_after_as_http_date() -> None:
    recorder = Recorder(raw(429, "{}", headers={"Retry-After": http_date(30)}))
    with pytest.raises(RateLimitError) as info:
        await query(recorder)
    retry_after = info.value.retry_after
    assert retry_after is not None
    assert 27.0 <= retry_after <= 31.0


@pytest.mark.anyio
async def test_429_without_retry_after() -> None:
    with pytest.raises(RateLimitError) as info:
        await query(Recorder(raw(429, "Too Many Requests")))
    assert info.value.retry_after is None


@pytest.mark.anyio
@pytest.mark.parametrize("status_code", [500, 502, 503, 504])
async def test_5xx_is_server_error(status_code: int) -> None:
    recorder = Recorder(raw(status_code, "<html>upstream failed</html>"))
    with pytest.raises(ServerError) as info:
        await query(recorder)
    assert info.value.status_code == status_code
    assert "upstream failed" in str(info.value.body)


@pytest.mark.anyio
async def test_5xx_with_envelope_keeps_code_and_message() -> None:
    recorder = Recorder(fail("500001", status_code=500, label="System error", message="oops"))
    with pytest.raises(ServerError) as info:
        await query(recorder)
    assert info.value.code == "500001"
    assert info.value.label == "System error"
    assert info.value.message == "oops"


@pytest.mark.anyio
async def test_unknown_code_on_http_200_is_plain_api_error() -> None:
    recorder = Recorder(fail("777777", label="Something new", message="never seen before"))
    with pytest.raises(APIError) as info:
        await query(recorder)
    exc = info.value
    assert type(exc) is APIError
    assert exc.code == "777777"
    assert exc.label == "Something new"
    assert exc.message == "never seen before"
    assert exc.status_code == 200
    assert exc.body == {
        "status": "FAIL",
        "code": "777777",
        "label": "Something new",
        "errorMessage": "never seen before",
        "data": None,
    }
    assert "777777" in str(exc)
    assert "never seen before" in str(exc)


@pytest.mark.anyio
async def test_create_fail_is_raised_not_outcome_unknown() -> None:
    recorder = Recorder(fail("400001"))
    async with make_client(recorder, max_retries=2) as gp:
        with pytest.raises(InvalidRequestError):
            await gp.gift_cards.create(
                title="t", template_id=TEMPLATE_ID, currency="USDT", amount="1"
            )
        assert recorder.count == 1


# ------------------------------------------------------------------------ undecodable answers


@pytest.mark.anyio
async def test_html_on_200_is_response_validation_error_with_status_and_snippet() -> None:
    html = "<!DOCTYPE html><html><head><title>Gateway maintenance</title></head></html>"
    recorder = Recorder(raw(200, html, headers={"Content-Type": "text/html"}))
    with pytest.raises(ResponseValidationError) as info:
        await query(recorder)
    exc = info.value
    assert exc.status_code == 200
    assert "Gateway maintenance" in exc.snippet
    assert "Gateway maintenance" in str(exc)
    assert "200" in str(exc)


@pytest.mark.anyio
async def test_huge_html_body_is_cut_to_a_snippet() -> None:
    html = "<html>" + "x" * 50_000 + "</html>"
    with pytest.raises(ResponseValidationError) as info:
        await query(Recorder(raw(200, html)))
    assert len(info.value.snippet) < 1000
    assert len(str(info.value)) < 2000


@pytest.mark.anyio
@pytest.mark.parametrize(
    "data",
    [
        card_data(card_num={"n": 1}),  # a card number that is not one
        card_data(card_num=[1]),
        {"card_key": CARD_KEY},  # no card number at all
        None,
        [card_data()],
        "not json at all",
    ],
)
async def test_malformed_card_data_is_response_validation_error(data: Any) -> None:
    with pytest.raises(ResponseValidationError) as info:
        await query(Recorder(success(data)))
    assert type(info.value) is ResponseValidationError
    assert not isinstance(info.value, ValueError)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "body", ['{"status":"MAYBE","code":"000000","data":{}}', "[1, 2", '"just a string"', ""]
)
async def test_unusable_envelopes_are_response_validation_errors(body: str) -> None:
    with pytest.raises(ResponseValidationError):
        await query(Recorder(raw(200, body)))


@pytest.mark.anyio
async def test_malformed_template_is_response_validation_error() -> None:
    recorder = Recorder(success([{"templateName": "no id"}]))
    async with make_client(recorder) as gp:
        with pytest.raises(ResponseValidationError):
            await gp.gift_cards.list_templates()
        assert recorder.count == 1


@pytest.mark.anyio
async def test_malformed_balance_is_response_validation_error() -> None:
    recorder = Recorder(success({"cardNumber": CARD_NUMBER, "amount": "lots"}))
    async with make_client(recorder) as gp:
        with pytest.raises(ResponseValidationError):
            await gp.gift_cards.balance(card_number=CARD_NUMBER)
        assert recorder.count == 1


# ------------------------------------------------------------------------ hierarchy


def test_every_error_is_a_gatepay_error() -> None:
    for cls in (
        ValidationError,
        APIConnectionError,
        APITimeoutError,
        APIError,
        InvalidRequestError,
        AuthenticationError,
        RateLimitError,
        ServerError,
        ResponseValidationError,
        OutcomeUnknownError,
    ):
        assert issubclass(cls, GatePayError), cls
    for cls in (InvalidRequestError, AuthenticationError, RateLimitError, ServerError):
        assert issubclass(cls, APIError), cls
    assert issubclass(ValidationError, ValueError)
    assert issubclass(APITimeoutError, APIConnectionError)
    assert not issubclass(APIConnectionError, APIError)


@pytest.mark.anyio
async def test_validation_error_is_caught_as_value_error() -> None:
    recorder = Recorder(success(card_data()))
    async with make_client(recorder) as gp:
        with pytest.raises(ValueError, match="amount"):
            await gp.gift_cards.create(
                title="t", template_id=TEMPLATE_ID, currency="USDT", amount=0.5
            )
        assert recorder.count == 0


@pytest.mark.anyio
async def test_read_timeout_is_api_timeout_error_and_api_connection_error() -> None:
    recorder = Recorder(httpx.ReadTimeout("timed out"))
    with pytest.raises(APITimeoutError) as info:
        await query(recorder)
    assert isinstance(info.value, APIConnectionError)
    assert isinstance(info.value, GatePayError)
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)


@pytest.mark.anyio
async def test_connect_error_is_api_connection_error_not_timeout() -> None:
    with pytest.raises(APIConnectionError) as info:
        await query(Recorder(httpx.ConnectError("connection refused")))
    assert not isinstance(info.value, APITimeoutError)
    assert info.value.request_sent is False


# ------------------------------------------------------------------------ no secrets in text


SCENARIOS: list[tuple[str, Any]] = [
    ("fail", fail("400001")),
    ("auth", fail("400002", status_code=401, message="signature mismatch")),
    ("rate", raw(429, "{}", headers={"Retry-After": "1"})),
    ("server", raw(500, "boom")),
    ("html", raw(200, "<html>nope</html>")),
    ("malformed", success(card_data(card_num={"n": 1}))),
    ("connect", httpx.ConnectError("connection refused")),
    ("timeout", httpx.ReadTimeout("timed out")),
]


def pieces_in(secret: str, text: str) -> list[str]:
    """The 8-character pieces of ``secret`` that ``text`` holds: a part leaks too."""
    return [secret[i : i + 8] for i in range(len(secret) - 7) if secret[i : i + 8] in text]


def chain_texts(exc: BaseException) -> str:
    """str and repr of the exception and of everything chained to it, cause or context."""
    texts: list[str] = []
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        texts += [str(item), repr(item)]
        todo += [item.__cause__, item.__context__]
    return "\n".join(texts)


def assert_no_secret(exc: BaseException, *secrets: str) -> None:
    text = chain_texts(exc)
    for secret in (SECRET_KEY, *secrets):
        assert not pieces_in(secret, text)


@pytest.mark.anyio
@pytest.mark.parametrize(("name", "step"), SCENARIOS)
async def test_exception_text_never_contains_the_secret_key(name: str, step: Any) -> None:
    recorder = Recorder(step)
    async with make_client(recorder, api_key="api-key-also-secret") as gp:
        for operation in ("query", "balance", "create"):
            with pytest.raises(GatePayError) as info:
                await run(gp, operation)
            assert_no_secret(info.value, "api-key-also-secret")
    assert recorder.count == 3


@pytest.mark.anyio
@pytest.mark.parametrize("operation", ["query", "create"])
async def test_undecodable_card_does_not_leak_the_card_key(operation: str) -> None:
    recorder = Recorder(success(card_data(card_num={"n": 1})))
    async with make_client(recorder) as gp:
        with pytest.raises(GatePayError) as info:
            await run(gp, operation)
    assert not pieces_in(CARD_KEY, chain_texts(info.value))


@pytest.mark.anyio
async def test_card_key_in_a_fail_body_is_masked_in_exception_text() -> None:
    body = json.dumps(
        {
            "status": "FAIL",
            "code": "400001",
            "label": "bad",
            "errorMessage": f'rejected {{"key": "{CARD_KEY}"}}',
            "data": None,
        }
    )
    with pytest.raises(InvalidRequestError) as info:
        await query(Recorder(raw(200, body)))
    assert not pieces_in(CARD_KEY, chain_texts(info.value))


@pytest.mark.anyio
async def test_outcome_unknown_carries_the_create_arguments() -> None:
    recorder = Recorder(httpx.ReadTimeout("timed out"))
    async with make_client(recorder, max_retries=2) as gp:
        with pytest.raises(OutcomeUnknownError) as info:
            await gp.gift_cards.create(
                title="Holiday", template_id=TEMPLATE_ID, currency="USDT", amount="0.990"
            )
        exc = info.value
    assert isinstance(exc, GatePayError)
    assert exc.title == "Holiday"
    assert exc.template_id == TEMPLATE_ID
    assert exc.currency == "USDT"
    assert exc.amount == Decimal("0.99")
    assert isinstance(exc.amount, Decimal)
    assert isinstance(exc.cause, APITimeoutError)
    assert "NOT resent" in str(exc)
    assert recorder.count == 1

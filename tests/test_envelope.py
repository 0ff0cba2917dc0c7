"""GatePay's response envelope: data in all its documented forms, and the error mapping."""

from __future__ import annotations

import email.utils
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from gatepay_async import (
    APIError,
    AuthenticationError,
    InvalidRequestError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
)
from gatepay_async._wire.envelope import decode_envelope, parse_json, parse_retry_after
from tests.secret_leaks import leaked_pieces, raised_texts


def response(status_code: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
    return httpx.Response(status_code, content=content, headers=headers)


def decode(status_code: int, body: Any, headers: dict[str, str] | None = None) -> Any:
    return decode_envelope(
        response(status_code, body, headers), method="POST", path="/v1/pay/gift/query"
    )


def ok(data: Any) -> dict[str, Any]:
    return {"status": "SUCCESS", "code": "000000", "label": "", "errorMessage": "", "data": data}


# ------------------------------------------------------------------------ data forms


def test_data_object() -> None:
    assert decode(200, ok({"card_num": "C"})) == {"card_num": "C"}


def test_data_array() -> None:
    assert decode(200, ok([{"templateId": "T"}])) == [{"templateId": "T"}]


@pytest.mark.parametrize("data", [None, "", "   "])
def test_empty_data_is_none(data: Any) -> None:
    assert decode(200, ok(data)) is None


def test_data_as_a_string_holding_an_object() -> None:
    assert decode(200, ok('{"card_num": "C", "amount": 0.99}')) == {
        "card_num": "C",
        "amount": Decimal("0.99"),
    }


def test_data_as_a_string_holding_an_array() -> None:
    assert decode(200, ok('[{"templateId": "T"}]')) == [{"templateId": "T"}]


def test_data_string_that_is_not_json_is_an_error() -> None:
    with pytest.raises(ResponseValidationError) as info:
        decode(200, ok("{not json"))
    assert info.value.status_code == 200


@pytest.mark.parametrize("code", [None, "000000", "0", 0, ""])
def test_success_codes(code: Any) -> None:
    body = {"status": "SUCCESS", "code": code, "data": {"x": 1}}
    assert decode(200, body) == {"x": 1}


@pytest.mark.parametrize("code", [None, "000000"])
def test_envelope_without_status_but_success_code(code: Any) -> None:
    assert decode(200, {"code": code, "data": {"x": 1}}) == {"x": 1}


def test_bare_object_without_envelope() -> None:
    body = {"cardNumber": "GC1234567890123456", "key": "KEY_abc123def456", "status": "CREATED"}
    assert decode(200, body) == body


def test_bare_array_without_envelope() -> None:
    assert decode(200, [{"templateId": "T"}]) == [{"templateId": "T"}]


def test_json_numbers_with_a_fraction_are_decimals() -> None:
    data = decode(200, b'{"status":"SUCCESS","data":{"amount":0.99,"n":3,"e":1e2}}')
    assert type(data["amount"]) is Decimal
    assert data["amount"] == Decimal("0.99")
    assert str(data["amount"]) == "0.99"
    assert data["n"] == 3
    assert type(data["n"]) is int
    assert type(data["e"]) is Decimal


def test_parse_json_never_returns_float() -> None:
    parsed = parse_json(b"[0.1, 0.2, 1.5e-7]")
    assert parsed == [Decimal("0.1"), Decimal("0.2"), Decimal("1.5e-7")]
    assert not any(isinstance(x, float) for x in parsed)


def test_201_is_a_success_too() -> None:
    assert decode(201, ok({"x": 1})) == {"x": 1}


# ------------------------------------------------------------------------ undecodable bodies


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>502 Bad Gateway</body></html>",
        b"",
        b"null",
        b"42",
        b'"text"',
        b'{"status": "SUCCESS", ',
        b"\xff\xfe garbage",
    ],
)
def test_non_json_or_non_object_on_200_is_response_validation_error(body: bytes) -> None:
    with pytest.raises(ResponseValidationError) as info:
        decode(200, body)
    assert info.value.status_code == 200
    assert "200" in str(info.value)


def test_html_snippet_is_kept() -> None:
    with pytest.raises(ResponseValidationError) as info:
        decode(200, b"<html><title>Maintenance window</title></html>")
    assert "Maintenance window" in info.value.snippet


def test_unknown_envelope_status_is_response_validation_error() -> None:
    with pytest.raises(ResponseValidationError) as info:
        decode(200, {"status": "PENDING", "code": "000000", "data": {}})
    assert "PENDING" in str(info.value)


def test_deeply_nested_json_does_not_crash() -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(ResponseValidationError):
        decode(200, body)


# ------------------------------------------------------------------------ errors


def fail_body(code: str, label: str = "lbl", message: str = "msg") -> dict[str, Any]:
    return {"status": "FAIL", "code": code, "label": label, "errorMessage": message, "data": None}


@pytest.mark.parametrize(
    ("status_code", "code", "cls"),
    [
        (200, "400001", InvalidRequestError),
        (200, "400007", InvalidRequestError),
        (200, "300001", InvalidRequestError),
        (400, "400001", InvalidRequestError),
        (400, "123456", InvalidRequestError),
        (200, "400002", AuthenticationError),
        (200, "400003", AuthenticationError),
        (401, "123456", AuthenticationError),
        (403, "123456", AuthenticationError),
        (429, "123456", RateLimitError),
        (500, "123456", ServerError),
        (502, "400001", ServerError),
        (503, "123456", ServerError),
        (200, "123456", APIError),
        (404, "123456", APIError),
    ],
)
def test_error_mapping(status_code: int, code: str, cls: type[APIError]) -> None:
    with pytest.raises(APIError) as info:
        decode(status_code, fail_body(code, "Some label", "Some message"))
    exc = info.value
    assert type(exc) is cls
    assert exc.code == code
    assert exc.label == "Some label"
    assert exc.message == "Some message"
    assert exc.status_code == status_code
    assert exc.body == fail_body(code, "Some label", "Some message")
    assert exc.method == "POST"
    assert exc.path == "/v1/pay/gift/query"


def test_integer_code_is_text() -> None:
    with pytest.raises(InvalidRequestError) as info:
        decode(200, {"status": "FAIL", "code": 400001, "errorMessage": "x"})
    assert info.value.code == "400001"


def test_message_falls_back_to_message_field_then_label() -> None:
    with pytest.raises(APIError) as info:
        decode(200, {"status": "FAIL", "code": "1", "message": "from message"})
    assert info.value.message == "from message"
    with pytest.raises(APIError) as info:
        decode(200, {"status": "FAIL", "code": "1", "label": "only a label"})
    assert info.value.message == "only a label"


@pytest.mark.parametrize("status_code", [400, 401, 404, 429, 500, 503])
def test_non_json_error_body_becomes_a_snippet(status_code: int) -> None:
    with pytest.raises(APIError) as info:
        decode(status_code, b"<html>upstream broke</html>")
    assert info.value.code is None
    assert info.value.status_code == status_code
    assert "upstream broke" in str(info.value.body)
    assert "upstream broke" in str(info.value)


def test_error_text_masks_card_keys_in_the_message() -> None:
    key = "KEYabcdefghijklmnop"
    with pytest.raises(APIError) as info:
        decode(400, {"status": "FAIL", "code": "1", "errorMessage": f'bad {{"key": "{key}"}}'})
    assert not leaked_pieces(key, raised_texts(info.value))
    assert key[:4] in str(info.value)


# ------------------------------------------------------------------------ Retry-After


def test_retry_after_on_rate_limit() -> None:
    with pytest.raises(RateLimitError) as info:
        decode(429, fail_body("1"), headers={"Retry-After": "12"})
    assert info.value.retry_after == 12.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", 0.0), ("7", 7.0), ("0.01", 0.01), (" 3 ", 3.0), ("-5", 0.0)],
)
def test_parse_retry_after_seconds(value: str, expected: float) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(header, now=now) == 30.0


def test_parse_retry_after_http_date_in_the_past() -> None:
    now = 1_700_000_000.0
    header = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after(header, now=now) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "Mon, 99 Foo 2024 00:00:00 GMT"])
def test_parse_retry_after_garbage(value: str | None) -> None:
    assert parse_retry_after(value) is None

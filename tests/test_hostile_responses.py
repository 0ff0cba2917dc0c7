"""Whatever a server sends, decoding yields a model or a GatePayError: never a crash."""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gatepay_async import APIError, GiftCard, GiftCardBalance, GiftCardTemplate
from gatepay_async._errors import ResponseValidationError
from gatepay_async._wire.decoding import decode_balance, decode_card, decode_templates
from gatepay_async._wire.envelope import decode_envelope

FIELDS = [
    "card_num", "cardNumber", "card_number", "card_key", "key", "amount", "currency",
    "status", "card_temp_id", "templateId", "create_time", "exchange_time",
    "last_give_time", "give_count", "creator", "owner", "exchange_uid", "title",
    "templateName", "image_url", "coverUrl", "balances", "available", "list",
]  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["", "0", "2", "1E+5", "NaN", "Infinity", "1737942105582", "CREATED"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), inner, max_size=6)
    ),
    max_leaves=20,
)
# Objects that look like GatePay's: known field names with hostile values.
card_like = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=10)
data_values = card_like | json_values | card_like.map(json.dumps)

DECODERS = [decode_card, decode_balance, decode_templates]
MODELS = (GiftCard, GiftCardBalance, GiftCardTemplate)


def _response(status_code: int, content: bytes) -> httpx.Response:
    return httpx.Response(status_code, content=content, request=httpx.Request("GET", "http://t"))


def _decode_all(status_code: int, content: bytes) -> None:
    try:
        data = decode_envelope(_response(status_code, content), method="GET", path="/p")
    except (ResponseValidationError, APIError):
        return
    for decode in DECODERS:
        try:
            result: Any = decode(data)
        except ResponseValidationError:
            continue
        items = result if isinstance(result, list) else [result]
        assert all(isinstance(item, MODELS) for item in items)


@settings(max_examples=400, deadline=None)
@given(data=data_values)
def test_success_envelope_with_any_data(data: object) -> None:
    body = json.dumps({"status": "SUCCESS", "code": "000000", "data": data}).encode()
    _decode_all(200, body)


@settings(max_examples=300, deadline=None)
@given(payload=json_values, status_code=st.sampled_from([200, 201, 400, 401, 429, 500, 502]))
def test_any_json_body_with_any_status(payload: object, status_code: int) -> None:
    _decode_all(status_code, json.dumps(payload).encode())


@settings(max_examples=200, deadline=None)
@given(content=st.binary(max_size=64), status_code=st.sampled_from([200, 404, 503]))
def test_any_bytes(content: bytes, status_code: int) -> None:
    _decode_all(status_code, content)


# ------------------------------------------------------------------------ keys in cut answers

# GatePay's keys are base64 text (the sandbox makes them the same way).
keys = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    min_size=16,
    max_size=44,
)
KEY_FIELDS = ["card_key", "key", "cardKey"]


def _bodies(key: str, field: str) -> list[bytes]:
    """Answers holding ``key``: JSON, escaped inside a ``data`` string, and not JSON."""
    card = {"card_num": "GC100200300", field: key, "amount": "1", "currency": "USDT"}
    as_json = json.dumps(card)
    return [
        json.dumps({"status": "SUCCESS", "code": "000000", "data": card}).encode(),
        json.dumps({"status": "SUCCESS", "data": as_json}).encode(),  # data: a JSON string
        json.dumps({"status": "SUCCESS", "data": as_json}).replace("/", "\\/").encode(),
        json.dumps({"status": "FAIL", "code": "400001", "errorMessage": as_json}).encode(),
        f"<html><body><pre>{as_json}</pre></body></html>".encode(),
        f"{field}={key}&card_num=GC1".encode(),
        f"{field}: {key}\n".encode(),
    ]


def _leaks(key: str, text: str, background: str = "") -> list[str]:
    """The 8-character pieces of ``key`` in ``text`` that ``background`` does not explain.

    ``background`` is what the same answer raises with the key blanked out: a piece found
    there comes from the SDK's own words (a key may contain ``ationErr``, part of the
    class name ``ValidationError``), not from the key.
    """
    pieces = (key[i : i + 8] for i in range(len(key) - 7))
    return [piece for piece in pieces if piece in text and piece not in background]


def _blanked(body: bytes, key: str) -> bytes:
    """``body`` with ``key`` (plain or JSON-escaped) replaced by filler of the same length."""
    for form in (key.replace("/", "\\/").encode(), key.encode()):
        body = body.replace(form, b"-" * len(form))
    assert key.encode() not in body  # the background must hold no trace of the key
    return body


def _raised_texts(content: bytes, status_code: int) -> str:
    """Everything a caller can read from what decoding ``content`` raises."""
    texts = []
    try:
        data = decode_envelope(_response(status_code, content), method="POST", path="/p")
        for decode in DECODERS:
            try:
                decode(data)
            except ResponseValidationError as exc:
                texts += [str(exc), repr(exc)]
    except (ResponseValidationError, APIError) as exc:
        item: BaseException | None = exc
        while item is not None:
            texts += [str(item), repr(item)]
            item = item.__cause__ or item.__context__
    return "\n".join(texts)


@settings(max_examples=300, deadline=None)
@given(
    key=keys,
    field=st.sampled_from(KEY_FIELDS),
    which=st.integers(min_value=0, max_value=6),
    cut=st.floats(min_value=0, max_value=1),
    status_code=st.sampled_from([200, 400, 404, 500, 502]),
)
# A key holding a piece of the SDK's own words ("ResponseValidationError"): once a flaky
# failure, now the case that shows the background comparison.
@example(key="00000000ationErr", field="card_key", which=0, cut=0.5, status_code=200)
def test_a_key_in_an_answer_cut_anywhere_never_reaches_exception_text(
    key: str, field: str, which: int, cut: float, status_code: int
) -> None:
    body = _bodies(key, field)[which]
    end = int(len(body) * cut)  # an answer cut off anywhere
    background = _raised_texts(_blanked(body, key)[:end], status_code)
    assert not _leaks(key, _raised_texts(body[:end], status_code), background)


@settings(max_examples=100, deadline=None)
@given(key=keys, field=st.sampled_from(KEY_FIELDS), which=st.integers(min_value=0, max_value=6))
def test_every_cut_of_one_answer_is_masked(key: str, field: str, which: int) -> None:
    body = _bodies(key, field)[which]
    blanked = _blanked(body, key)
    for end in range(len(body) + 1):
        background = _raised_texts(blanked[:end], 502)
        assert not _leaks(key, _raised_texts(body[:end], 502), background), body[:end]

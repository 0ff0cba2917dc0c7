"""Helpers shared by the async test sources and their generated sync twins.

Everything here is plain and synchronous: an ``httpx.MockTransport`` handler works with
``httpx.AsyncClient`` and ``httpx.Client`` alike, so the same helpers serve both facades.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import httpx
import pytest

from gatepay_async._http.signing import sign

__all__ = [
    "BASE_URL",
    "CARD_KEY",
    "CARD_NUMBER",
    "CLIENT_ID",
    "SECRET_KEY",
    "TEMPLATE_ID",
    "Recorder",
    "Sent",
    "assert_signed",
    "card_data",
    "envelope",
    "fail",
    "http_date",
    "raw",
    "success",
    "use_fast_backoff",
]

CLIENT_ID = "test-client-0001"
#: Distinctive, so a test can look for it in exception text and reprs.
SECRET_KEY = "s3cr3t-Gatepay-Key-NEVER-SHOWN-9f8e7d"
BASE_URL = "http://gatepay.test"
CARD_KEY = "KEYabcdefghijklmnopqrstuvwxyz0123456789"
CARD_NUMBER = "GC1234567890123456"
TEMPLATE_ID = "255267012439183360"

_TIMESTAMP = re.compile(r"[0-9]{13}")
_NONCE = re.compile(r"[A-Za-z0-9]{1,32}")
_SIGNATURE = re.compile(r"[0-9a-f]{128}")

#: One scripted answer: a response, an exception to raise, or a function of the request.
Step = httpx.Response | BaseException | Callable[[httpx.Request], httpx.Response]


@attrs.frozen
class Sent:
    """A snapshot of one request as it reached the transport.

    The client re-signs the same ``httpx.Request`` object on every attempt, so the
    recorder copies what it sees instead of keeping the (mutable) request.
    """

    method: str
    url: httpx.URL
    headers: httpx.Headers
    content: bytes
    extensions: dict[str, Any]
    sent_at_ms: float

    @property
    def path(self) -> str:
        return self.url.path

    @property
    def params(self) -> dict[str, str]:
        return dict(self.url.params)

    def json(self) -> Any:
        return json.loads(self.content)


class Recorder:
    """An ``httpx.MockTransport`` handler that records every request and plays a script.

    Request number *n* is answered by step *n*; the last step repeats for ever after.
    An exception step is raised afresh (a new instance of the same class) each time.
    """

    def __init__(self, *steps: Step) -> None:
        self.steps: list[Step] = list(steps) or [success({})]
        self.sent: list[Sent] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(
            Sent(
                method=request.method,
                url=request.url,
                headers=request.headers.copy(),
                content=request.content,
                extensions=dict(request.extensions),
                sent_at_ms=time.time() * 1000.0,
            )
        )
        step = self.steps[min(len(self.sent), len(self.steps)) - 1]
        if isinstance(step, httpx.TransportError):
            raise type(step)(str(step), request=request)
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, httpx.Response):
            return httpx.Response(step.status_code, headers=step.headers, content=step.content)
        return step(request)

    @property
    def count(self) -> int:
        return len(self.sent)


# ------------------------------------------------------------------------ responses


def envelope(
    data: Any = None,
    *,
    status: str = "SUCCESS",
    code: str | None = "000000",
    label: str = "",
    message: str = "",
) -> dict[str, Any]:
    return {"status": status, "code": code, "label": label, "errorMessage": message, "data": data}


def success(
    data: Any = None, *, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> httpx.Response:
    """A GatePay SUCCESS envelope around ``data``."""
    return raw(status_code, json.dumps(envelope(data)), headers=headers)


def fail(
    code: str,
    *,
    status_code: int = 200,
    label: str = "Invalid request parameters",
    message: str = "something is wrong",
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """A GatePay FAIL envelope."""
    body = envelope(None, status="FAIL", code=code, label=label, message=message)
    return raw(status_code, json.dumps(body), headers=headers)


def raw(
    status_code: int, body: bytes | str, *, headers: Mapping[str, str] | None = None
) -> httpx.Response:
    """Any status and body, byte for byte."""
    content = body.encode("utf-8") if isinstance(body, str) else body
    all_headers = {"Content-Type": "application/json"}
    all_headers.update(headers or {})
    return httpx.Response(status_code, headers=all_headers, content=content)


def card_data(**overrides: Any) -> dict[str, Any]:
    """A create response's data in seed 003's spelling."""
    data: dict[str, Any] = {
        "card_num": CARD_NUMBER,
        "card_key": CARD_KEY,
        "amount": "0.99",
        "currency": "USDT",
        "status": 2,
        "card_temp_id": TEMPLATE_ID,
        "creator": 10001,
        "creator_name": "merchant",
        "exchange_uid": 0,
        "owner": 0,
        "give_count": 0,
        "last_give_time": 0,
        "create_time": 1737942105582,
    }
    data.update(overrides)
    return data


def http_date(offset_seconds: float = 0.0) -> str:
    """An HTTP Date header value, ``offset_seconds`` away from now."""
    return email.utils.formatdate(time.time() + offset_seconds, usegmt=True)


# ------------------------------------------------------------------------ checks


def assert_signed(
    sent: Sent,
    *,
    secret: str = SECRET_KEY,
    client_id: str = CLIENT_ID,
    offset_ms: float = 0.0,
    tolerance_ms: float = 5000.0,
) -> None:
    """The X-GatePay-* headers are all there, well formed, and sign the bytes sent.

    The timestamp must be within ``tolerance_ms`` of local time plus ``offset_ms`` at the
    moment the request reached the transport.
    """
    headers = sent.headers
    assert headers.get("X-GatePay-Certificate-ClientId") == client_id
    timestamp = headers.get("X-GatePay-Timestamp", "")
    assert _TIMESTAMP.fullmatch(timestamp), f"timestamp {timestamp!r} is not 13 digits"
    assert abs(int(timestamp) - (sent.sent_at_ms + offset_ms)) < tolerance_ms, (
        f"timestamp {timestamp} is not close to {sent.sent_at_ms + offset_ms:.0f}"
    )
    nonce = headers.get("X-GatePay-Nonce", "")
    assert _NONCE.fullmatch(nonce), f"nonce {nonce!r} is not 1-32 letters and digits"
    signature = headers.get("X-GatePay-Signature", "")
    assert _SIGNATURE.fullmatch(signature), f"signature {signature!r} is not 128 lowercase hex"
    assert signature == sign(secret, timestamp, nonce, sent.content)
    assert headers.get("Content-Type") == "application/json"


def use_fast_backoff(monkeypatch: pytest.MonkeyPatch, seconds: float = 0.001) -> None:
    """Shrink the retry back-off so retry tests run in milliseconds."""
    monkeypatch.setattr("gatepay_async._http.retry.INITIAL_BACKOFF", seconds)

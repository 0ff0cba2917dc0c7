"""Answers: the GatePay envelope, the rejection codes, signed headers, and a broken connection."""

from __future__ import annotations

import json
import secrets
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

import httpx
from starlette.types import Send

from gatepay_async import _codes
from gatepay_async._http.signing import sign

__all__ = [
    "CODE_BAD_CONTENT_TYPE",
    "CODE_BAD_NONCE",
    "CODE_BAD_SIGNATURE",
    "CODE_BAD_TIMESTAMP",
    "CODE_INVALID",
    "CODE_UNKNOWN_CLIENT",
    "JSON",
    "Rejection",
    "SandboxDroppedConnection",
    "drop_connection",
    "dumps",
    "fail_envelope",
    "http_phrase",
    "send_response",
    "signed_headers",
    "success_envelope",
]

# The codes live in gatepay_async._codes, shared with the SDK's error mapping; 400002-400005
# are this sandbox's conventions, not documented GatePay codes.
CODE_INVALID = _codes.INVALID_PARAMETERS.code
CODE_BAD_SIGNATURE = _codes.BAD_SIGNATURE.code
CODE_BAD_TIMESTAMP = _codes.BAD_TIMESTAMP.code
CODE_UNKNOWN_CLIENT = _codes.UNKNOWN_CLIENT.code
CODE_BAD_NONCE = _codes.BAD_NONCE.code
CODE_BAD_CONTENT_TYPE = _codes.BAD_CONTENT_TYPE.code

JSON = b"application/json"


class Rejection(Exception):
    """A request the sandbox refuses: HTTP status, GatePay code, label and message."""

    def __init__(self, http_status: int, code: str, message: str, label: str | None = None):
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.label = _codes.label_of(code) if label is None else label
        self.message = message

    @classmethod
    def invalid(cls, message: str) -> Rejection:
        """HTTP 400, code 400001: a bad parameter; ``message`` names it."""
        return cls(400, CODE_INVALID, message)

    @classmethod
    def auth(cls, code: str, message: str) -> Rejection:
        """HTTP 401 with one of the authentication codes."""
        return cls(401, code, message)


class SandboxDroppedConnection(httpx.RemoteProtocolError):
    """Raised by the app to break the connection in the middle of an answer.

    Under a real server (uvicorn) the client sees the connection closed before the
    promised body arrived. Through ``httpx.ASGITransport`` this exception reaches the
    caller itself, which is why it is an :class:`httpx.RemoteProtocolError`: either way
    an httpx client gets the same kind of transport error.
    """


def http_phrase(status: int) -> str:
    """The reason phrase of an HTTP status ("Service Unavailable")."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def dumps(value: Any) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def success_envelope(data: Any) -> dict[str, Any]:
    return {"status": "SUCCESS", "code": "000000", "label": "", "errorMessage": "", "data": data}


def fail_envelope(code: str, label: str, message: str) -> dict[str, Any]:
    return {"status": "FAIL", "code": code, "label": label, "errorMessage": message, "data": None}


def signed_headers(secret: str, now: float, body: bytes) -> list[tuple[bytes, bytes]]:
    """``Date`` from the sandbox clock, and the answer's own GatePay signature headers."""
    timestamp = str(int(now * 1000))
    nonce = secrets.token_hex(16)
    return [
        (b"date", formatdate(now, usegmt=True).encode("ascii")),
        (b"x-gatepay-timestamp", timestamp.encode("ascii")),
        (b"x-gatepay-nonce", nonce.encode("ascii")),
        (b"x-gatepay-signature", sign(secret, timestamp, nonce, body).encode("ascii")),
    ]


async def send_response(
    send: Send,
    *,
    status: int,
    body: bytes,
    content_type: bytes,
    secret: str,
    now: float,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Send one complete, signed answer."""
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode("ascii")),
        *signed_headers(secret, now, body),
    ]
    if extra_headers:
        headers.extend(extra_headers)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def drop_connection(send: Send, body: bytes) -> None:
    """Promise ``body`` with status 200, send only part of it, then break the connection."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", JSON),
                (b"content-length", str(len(body) + 64).encode("ascii")),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
    raise SandboxDroppedConnection("sandbox fault: connection dropped in mid-response")

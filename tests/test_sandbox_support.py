"""Helpers shared by the sandbox tests (this module holds no tests).

The tests talk raw HTTP to the sandbox, signing requests here, so that they depend on
nothing but the sandbox and ``gatepay_async._http.signing``.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import httpx

from gatepay_async._http.signing import sign, verify
from gatepay_async.sandbox import Sandbox

CLIENT_ID = "sandbox-client"
SECRET = "sandbox-secret"
TEMPLATE_ID = "255267012439183360"
INSTITUTION = "/payment/open/institution"
CREATE = "/v1/pay/gift/create"
QUERY = "/v1/pay/gift/query"
TEMPLATES = "/v1/pay/gift/temp/list"
BALANCE = "/v1/pay/balance"


def now_ms() -> int:
    return int(time.time() * 1000)


def auth_headers(
    body: bytes = b"",
    *,
    timestamp: str | int | None = None,
    nonce: str | None = None,
    secret: str = SECRET,
    client_id: str = CLIENT_ID,
    content_type: str | None = "application/json",
    on_behalf_of: str | None = None,
) -> dict[str, str]:
    """GatePay request headers for ``body``, signed with ``secret``."""
    ts = str(now_ms() if timestamp is None else timestamp)
    nonce = secrets.token_hex(12) if nonce is None else nonce
    headers = {
        "X-GatePay-Certificate-ClientId": client_id,
        "X-GatePay-Timestamp": ts,
        "X-GatePay-Nonce": nonce,
        "X-GatePay-Signature": sign(secret, ts, nonce, body),
    }
    if content_type is not None:
        headers["Content-Type"] = content_type
    if on_behalf_of is not None:
        headers["X-GatePay-On-Behalf-Of"] = on_behalf_of
    return headers


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def create_payload(**overrides: Any) -> dict[str, Any]:
    """A valid create body; an override of None removes that field."""
    payload: dict[str, Any] = {
        "title": "Holiday",
        "templateId": TEMPLATE_ID,
        "currency": "USDT",
        "amount": "0.99",
    }
    for name, value in overrides.items():
        if value is None:
            payload.pop(name, None)
        else:
            payload[name] = value
    return payload


def asgi_client(sandbox: Sandbox) -> httpx.AsyncClient:
    """An in-process client; it carries the admin token (the gift-card endpoints ignore it)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox.app),
        base_url="http://sandbox.test",
        headers={"Authorization": f"Bearer {sandbox.admin_token}"},
    )


async def post(
    client: httpx.AsyncClient, path: str, payload: Any, **header_options: Any
) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else dumps(payload)
    return await client.post(path, content=body, headers=auth_headers(body, **header_options))


async def get(
    client: httpx.AsyncClient,
    path: str,
    params: dict[str, str] | None = None,
    **header_options: Any,
) -> httpx.Response:
    header_options.setdefault("content_type", None)
    return await client.get(path, params=params, headers=auth_headers(b"", **header_options))


def assert_fail(response: httpx.Response, http_status: int, code: str) -> str:
    """Check a FAIL envelope; return its errorMessage."""
    assert response.status_code == http_status, response.text
    envelope = response.json()
    assert envelope["status"] == "FAIL"
    assert envelope["code"] == code, envelope
    assert envelope["data"] is None
    assert envelope["label"]
    return str(envelope["errorMessage"])


def success_data(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    envelope = response.json()
    assert envelope["status"] == "SUCCESS", envelope
    assert envelope["code"] == "000000"
    assert envelope["label"] == ""
    assert envelope["errorMessage"] == ""
    return envelope["data"]


def response_signature_ok(response: httpx.Response, secret: str = SECRET) -> bool:
    headers = response.headers
    return verify(
        secret,
        headers["X-GatePay-Timestamp"],
        headers["X-GatePay-Nonce"],
        response.content,
        headers["X-GatePay-Signature"],
    )

"""The ``httpx.Auth`` that signs every request GatePay's way, one class for both facades."""

from __future__ import annotations

import json
import secrets
from collections.abc import Generator

import httpx

from gatepay_async._http.clock import ServerClock, clock_refusal
from gatepay_async._http.prebuilt import set_headers
from gatepay_async._http.signing import sign
from gatepay_async._secrets.secret import Secret

__all__ = ["GatePayAuth", "new_nonce", "refused_for_timestamp"]

HEADER_CLIENT_ID = "X-GatePay-Certificate-ClientId"
HEADER_TIMESTAMP = "X-GatePay-Timestamp"
HEADER_NONCE = "X-GatePay-Nonce"
HEADER_SIGNATURE = "X-GatePay-Signature"
HEADER_ON_BEHALF_OF = "X-GatePay-On-Behalf-Of"
HEADER_CERTIFICATE_SN = "X-GatePay-Certificate-SN"


def new_nonce() -> str:
    """32 random hex characters: letters and digits only, as GatePay requires."""
    return secrets.token_hex(16)


class GatePayAuth(httpx.Auth):
    """Stamps the X-GatePay-* headers and signs ``request.content`` on every send.

    Every send gets a fresh timestamp and nonce, so retries are signed afresh. The
    response's Date header keeps the clock aligned with the server's; a request refused
    while that Date shows its timestamp outside GatePay's 10-second window
    (:func:`refused_for_timestamp`) is re-signed with the corrected clock and sent once
    more by the client: the server refused it unprocessed, so even a create is safe to
    resend. The answer's body is not read here, so that the client can stream it under
    its size cap and deadline.
    """

    requires_request_body = True
    requires_response_body = False

    def __init__(
        self,
        client_id: str,
        secret_key: str | Secret,
        *,
        api_key: str | Secret | None = None,
        on_behalf_of: str | None = None,
        clock: ServerClock | None = None,
    ) -> None:
        self._client_id = client_id
        # Kept masked; revealed only into the signature and the header they go to.
        self._secret_key = Secret.of(secret_key)
        self._api_key = None if api_key is None else Secret.of(api_key)
        self._on_behalf_of = on_behalf_of
        self.clock = clock if clock is not None else ServerClock()

    def __repr__(self) -> str:
        return f"GatePayAuth(client_id={self._client_id!r})"

    def sign_request(self, request: httpx.Request) -> None:
        timestamp = str(self.clock.now_ms())
        nonce = new_nonce()
        signed = [
            (HEADER_CLIENT_ID, self._client_id),
            (HEADER_TIMESTAMP, timestamp),
            (HEADER_NONCE, nonce),
            (HEADER_SIGNATURE, sign(self._secret_key.reveal(), timestamp, nonce, request.content)),
        ]
        if self._on_behalf_of is not None:
            signed.append((HEADER_ON_BEHALF_OF, self._on_behalf_of))
        if self._api_key is not None and request.method in ("POST", "PUT"):
            signed.append((HEADER_CERTIFICATE_SN, self._api_key.reveal()))
        # As many ``headers[name] = value`` in a row, in one pass over the headers.
        set_headers(request.headers, signed)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.sign_request(request)
        response = yield request
        self.clock.observe(response.headers.get("date"))


def refused_for_timestamp(response: httpx.Response, signed_timestamp: str | None) -> bool:
    """A refusal whose Date header shows ``signed_timestamp`` outside GatePay's window.

    The evidence is the server's clock, not an error code: GatePay documents none for a
    stale timestamp (see :func:`~gatepay_async._http.clock.clock_refusal`).
    """
    status_code = response.status_code
    envelope_status: object = None
    code: object = None
    if 200 <= status_code < 300:
        # Cheap test first: most answers are successes and need no parse.
        if b"FAIL" not in response.content:
            return False
    elif not 400 <= status_code < 500:
        return False
    try:
        payload = json.loads(response.content)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        envelope_status = payload.get("status")
        code = payload.get("code")
    return clock_refusal(
        status_code=status_code,
        envelope_status=envelope_status,
        code=code,
        date_header=response.headers.get("date"),
        signed_timestamp=signed_timestamp,
    )

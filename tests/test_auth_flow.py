"""``GatePayAuth.auth_flow`` as httpx runs it: through a caller's ``http_client``, whose
``send`` the SDK cannot skip, the flow itself signs, learns the server's clock and leaves
the answer's body unread (the client streams it under its size cap)."""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Iterator

import httpx
import pytest

from gatepay_async import ResponseValidationError
from gatepay_async._http.auth import GatePayAuth, new_nonce, refused_for_timestamp
from gatepay_async._http.signing import verify
from gatepay_sync import GatePay

SECRET = "s3cr3t-for-the-auth-flow-tests"
TEMPLATES = json.dumps({"status": "SUCCESS", "code": "000000", "data": {"list": []}}).encode()


def test_a_nonce_is_32_lowercase_hex_characters_and_fresh() -> None:
    nonces = {new_nonce() for _ in range(200)}
    assert len(nonces) == 200
    assert all(re.fullmatch(r"[0-9a-f]{32}", nonce) for nonce in nonces)


def test_the_flow_signs_then_learns_the_servers_clock_from_date() -> None:
    auth = GatePayAuth("client-1", SECRET)
    request = httpx.Request("POST", "https://gatepay.test/v1/pay/gift/create", content=b"{}")
    flow = auth.auth_flow(request)
    signed = next(flow)
    headers = signed.headers
    assert verify(
        SECRET, headers["X-GatePay-Timestamp"], headers["X-GatePay-Nonce"], b"{}",
        headers["X-GatePay-Signature"],
    )  # fmt: skip
    an_hour_ahead = email.utils.formatdate(time.time() + 3600, usegmt=True)
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(200, headers={"Date": an_hour_ahead}, request=signed))
    assert abs(auth.clock.now_ms() - (time.time() + 3600) * 1000) < 5_000


def test_the_flow_does_not_ask_httpx_to_read_the_answer() -> None:
    assert GatePayAuth.requires_request_body is True
    assert GatePayAuth.requires_response_body is False


def test_a_callers_client_signs_with_the_servers_clock() -> None:
    """Through a caller's client, the auth flow is the only place the Date header is
    read: the second request is signed an hour ahead, as the server's clock says."""
    ahead_ms = 3600 * 1000
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        date = email.utils.formatdate(time.time() + 3600, usegmt=True)
        return httpx.Response(200, content=TEMPLATES, headers={"Date": date})

    own = httpx.Client(transport=httpx.MockTransport(handler))
    with GatePay(
        client_id="client-1", secret_key=SECRET, base_url="https://gatepay.test", http_client=own
    ) as gp:
        gp.gift_cards.list_templates()
        gp.gift_cards.list_templates()
    own.close()
    first, second = (int(r.headers["X-GatePay-Timestamp"]) for r in sent)
    assert abs(first - time.time() * 1000) < ahead_ms / 2  # nothing learnt yet
    assert abs(second - (time.time() * 1000 + ahead_ms)) < 60_000


class Endless(httpx.SyncByteStream):
    """An answer body far over the cap (13 MB); counts the chunks taken from it."""

    def __init__(self) -> None:
        self.chunks = 0

    def __iter__(self) -> Iterator[bytes]:
        for _ in range(200):
            self.chunks += 1
            yield b"x" * 65536


def test_a_callers_client_streams_the_answer_under_the_cap() -> None:
    """httpx would read the whole body for a flow that asked for it: here an answer far
    over the cap is refused at the cap, after a bounded number of chunks."""
    bodies: list[Endless] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(Endless())
        return httpx.Response(200, stream=bodies[-1])

    own = httpx.Client(transport=httpx.MockTransport(handler))
    with (
        GatePay(
            client_id="client-1",
            secret_key=SECRET,
            base_url="https://gatepay.test",
            http_client=own,
            max_response_bytes=1_000_000,
            max_retries=0,
        ) as gp,
        pytest.raises(ResponseValidationError),
    ):
        gp.gift_cards.list_templates()
    own.close()
    assert bodies
    assert all(body.chunks <= 1_000_000 // 65536 + 2 for body in bodies)


def _answer(status_code: int, envelope_status: str) -> httpx.Response:
    return httpx.Response(
        status_code,
        json={"status": envelope_status, "code": "400002", "message": "m"},
        headers={"date": email.utils.formatdate(time.time(), usegmt=True)},
    )


@pytest.mark.parametrize(
    ("status_code", "envelope_status", "refused"),
    [
        (200, "FAIL", True),
        (201, "FAIL", True),  # any 2xx carrying a FAIL envelope is read
        (299, "FAIL", True),
        (200, "SUCCESS", False),
        (400, "SUCCESS", True),  # a 4xx is a refusal whatever its body says
        (499, "SUCCESS", True),
        (429, "FAIL", True),  # a FAIL envelope is a refusal, the 429 too
        (500, "FAIL", False),  # a server error is never read as a clock refusal
        (300, "FAIL", False),  # a redirect is never read as a clock refusal
        (399, "FAIL", False),
        (199, "FAIL", False),
        (600, "FAIL", False),
    ],
)
def test_a_refusal_for_the_timestamp_is_read_from_2xx_and_4xx_answers(
    status_code: int, envelope_status: str, refused: bool
) -> None:
    """A request signed a minute before the server's Date, refused: which answers count
    as a refusal for its timestamp (the client re-signs and resends those once)."""
    signed = str(int((time.time() - 60) * 1000))
    assert refused_for_timestamp(_answer(status_code, envelope_status), signed) is refused
    now = str(int(time.time() * 1000))
    assert refused_for_timestamp(_answer(status_code, envelope_status), now) is False

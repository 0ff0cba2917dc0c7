"""The sandbox accepts every official client's requests and answers in GatePay's shapes.

Each request is built byte for byte as that client sends it (tests/peer/peers.py), signed
with gatepay_async._http.signing, and sent over real HTTP (uvicorn on 127.0.0.1) with the
client's own header spellings.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from gatepay_async.sandbox import SandboxServer
from tests.conftest import SANDBOX_CLIENT_ID, SANDBOX_SECRET_KEY
from tests.peer.peers import (
    NONCE_LENGTH,
    TEMPLATE_ID,
    TITLES,
    Peer,
    PeerRequest,
    balance_request,
    create_request,
    headers_for,
    query_request,
    templates_request,
)

PEERS = list(Peer)

#: Seed 003's create answer fields, exactly; seed 004's query fields (its schema lists
#: card_temp_id although its example omits it).
SEED_003_FIELDS = {
    "card_num", "card_key", "amount", "currency", "status", "card_temp_id", "creator",
    "creator_name", "exchange_uid", "owner", "give_count", "last_give_time", "create_time",
}  # fmt: skip
SEED_004_FIELDS = {
    "card_num", "key", "title", "creator_name", "amount", "status", "currency",
    "card_temp_id", "create_time", "exchange_uid", "exchange_time",
}  # fmt: skip
OFFICIAL_TEMPLATE_FIELDS = {"card_temp_id", "image_url", "title_en", "title_cn", "cover_type"}
SEED_000_TEMPLATE_FIELDS = {"templateId", "templateName", "coverUrl", "status"}


def signing() -> dict[str, Any]:
    return {
        "client_id": SANDBOX_CLIENT_ID,
        "secret": SANDBOX_SECRET_KEY,
        "timestamp": int(time.time() * 1000),
    }


@pytest.fixture
def http(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, trust_env=False, timeout=10.0) as client:
        yield client


def send(http: httpx.Client, request: PeerRequest) -> Any:
    """Send exactly these bytes with exactly these header spellings; return ``data``."""
    response = http.request(
        request.method, request.path, content=request.body, headers=list(request.headers)
    )
    payload = response.json()
    assert response.status_code == 200, payload
    assert payload["status"] == "SUCCESS", payload
    return payload["data"]


@pytest.mark.parametrize("peer", PEERS, ids=[p.value for p in PEERS])
def test_requests_are_spelled_as_each_client_spells_them(peer: Peer) -> None:
    request = create_request(peer, title=TITLES[peer], **signing())
    names = [name for name, _ in request.headers]
    nonce = dict(request.headers)["X-Gatepay-Nonce" if peer is Peer.GO else "X-GatePay-Nonce"]
    assert len(nonce) == NONCE_LENGTH
    assert nonce.isascii()
    assert nonce.isalnum()
    if peer is Peer.GO:
        assert "X-Gatepay-Certificate-Clientid" in names
        assert not any(name.startswith("X-GatePay") for name in names)
        assert request.body.endswith(b"}\n")
        assert b"\\u003c" in request.body
        assert b"\\u0026" in request.body
    else:
        assert "X-GatePay-Certificate-ClientId" in names
        assert "X-GatePay-Certificate-SN" in names
    if peer is Peer.PYTHON:
        assert request.body.isascii()
        assert b'"cardNumber"' in query_request(peer, card_number="1", **signing()).body
        keys = list(json.loads(request.body))
        assert keys == sorted(keys)
    if peer is Peer.JAVA:
        assert b'"api":"GIFT_CREATE","headers":{},"version":null' in request.body
        assert (
            b'{"key":null,"card_number":"1"'
            in query_request(peer, card_number="1", **signing()).body
        )


@pytest.mark.parametrize("peer", PEERS, ids=[p.value for p in PEERS])
def test_create_then_query_in_each_clients_style(
    http: httpx.Client, sandbox: SandboxServer, peer: Peer
) -> None:
    created = send(http, create_request(peer, title=TITLES[peer], **signing()))
    assert set(created) == SEED_003_FIELDS
    assert isinstance(created["status"], int)
    assert isinstance(created["create_time"], int)
    assert Decimal(created["amount"]) == Decimal("0.99")
    assert created["card_temp_id"] == TEMPLATE_ID

    queried = send(http, query_request(peer, card_number=created["card_num"], **signing()))
    assert set(queried) == SEED_004_FIELDS
    assert queried["card_num"] == created["card_num"]
    assert queried["key"] == created["card_key"]
    assert queried["title"] == TITLES[peer]  # every client's escaping decoded the same
    assert sandbox.sandbox.store.all_titles().count(TITLES[peer]) >= 1


@pytest.mark.parametrize("peer", PEERS, ids=[p.value for p in PEERS])
def test_merchant_balance_is_the_flat_object_every_client_parses(
    http: httpx.Client, peer: Peer
) -> None:
    data = send(http, balance_request(peer, **signing()))
    assert isinstance(data, dict)
    assert data
    for currency, amount in data.items():
        assert currency.isupper()
        assert isinstance(amount, str)  # Go reads map[string]string
        assert Decimal(amount).is_finite()


@pytest.mark.parametrize("peer", PEERS, ids=[p.value for p in PEERS])
def test_templates_carry_the_official_clients_fields(http: httpx.Client, peer: Peer) -> None:
    data = send(http, templates_request(peer, **signing()))
    assert data
    for template in data:
        assert set(template) >= OFFICIAL_TEMPLATE_FIELDS
    assert TEMPLATE_ID in {t["card_temp_id"] for t in data}


def test_older_paths_carry_seed_000s_template_fields(http: httpx.Client) -> None:
    request = templates_request(Peer.JAVA, **signing())
    data = send(http, PeerRequest("GET", "/v1/pay/giftcard/template/list", b"", request.headers))
    for template in data:
        assert set(template) >= SEED_000_TEMPLATE_FIELDS


def test_gos_trailing_newline_is_part_of_what_is_signed(http: httpx.Client) -> None:
    request = create_request(Peer.GO, title="newline", **signing())
    stripped = PeerRequest(request.method, request.path, request.body[:-1], request.headers)
    response = http.request(
        stripped.method, stripped.path, content=stripped.body, headers=list(stripped.headers)
    )
    assert response.status_code == 401
    assert response.json()["status"] == "FAIL"


@pytest.mark.parametrize("peer", PEERS, ids=[p.value for p in PEERS])
def test_a_replayed_nine_character_nonce_is_refused(http: httpx.Client, peer: Peer) -> None:
    first = templates_request(peer, **signing())
    send(http, first)
    nonce = next(v for k, v in first.headers if k.lower() == "x-gatepay-nonce")
    again = headers_for(peer, "GET", b"", nonce=nonce, **signing())
    response = http.get("/v1/pay/gift/temp/list", headers=list(again))
    assert response.status_code == 401

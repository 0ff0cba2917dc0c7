"""openapi.yaml describes what every official client sends and what the sandbox answers."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import referencing
import yaml
from referencing.jsonschema import DRAFT202012

from tests.peer.peers import TITLES, Peer, create_body, query_body
from tests.test_openapi_document import DOCUMENT_PATH, DOCUMENT_URI

PEERS = list(Peer)


@pytest.fixture(scope="module")
def registry() -> Any:
    document = yaml.safe_load(DOCUMENT_PATH.read_text(encoding="utf-8"))
    resource = referencing.Resource.from_contents(document, default_specification=DRAFT202012)
    return referencing.Registry().with_resource(DOCUMENT_URI, resource)


def validator(registry: Any, name: str) -> Any:
    schema = {"$ref": f"{DOCUMENT_URI}#/components/schemas/{name}"}
    return jsonschema.Draft202012Validator(schema, registry=registry)


@pytest.mark.parametrize("peer", PEERS, ids=[p.value for p in PEERS])
def test_each_clients_bodies_match_the_document(registry: Any, peer: Peer) -> None:
    validator(registry, "GiftCardCreateRequest").validate(
        json.loads(create_body(peer, title=TITLES[peer]))
    )
    validator(registry, "GiftCardQueryRequest").validate(
        json.loads(query_body(peer, card_number="2002356433468640"))
    )


def test_the_merchant_balance_is_the_flat_object(registry: Any) -> None:
    envelope = {"status": "SUCCESS", "code": "000000", "errorMessage": ""}
    check = validator(registry, "BalanceResponse")
    check.validate({**envelope, "data": {"USDT": "12.50", "BTC": "0.001"}})
    assert not check.is_valid({**envelope, "data": [{"currency": "USDT", "available": "1"}]})

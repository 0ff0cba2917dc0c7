"""The SDK checked against Prism, an independent mock server, with request validation on.

Prism (``prism_url`` in conftest.py) serves ``openapi.yaml``: it validates every request
against the document (path, method, headers and their patterns, query, Content-Type, body)
and, with ``--errors``, answers a request that violates it with an error instead of a mock.
A request that passes gets the document's example answer. So each call below succeeding
proves the SDK's request matches the written contract, independently of our own sandbox,
and that the SDK decodes the documented answers into its models.

Every operation runs on both path sets (merchant, and institution with ``on_behalf_of``),
with and without an API key, through ``AsyncGatePay`` on asyncio and trio and through the
generated ``gatepay_sync.GatePay``. Negative controls at the end show that Prism really
refuses requests that break the document.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs
import httpx
import pytest
import yaml

from gatepay_async import (
    AsyncGatePay,
    GiftCard,
    GiftCardBalance,
    GiftCardStatus,
    GiftCardTemplate,
    MerchantBalance,
)
from gatepay_async._http.signing import sign
from tests.contract.conftest import DOCUMENT_PATH

CLIENT_ID = "contract-client"
SECRET_KEY = "contract-secret"
SUB_ACCOUNT = "10002"
API_KEY = "contract-api-key"
INSTITUTION = "/payment/open/institution"


def _example(response: str, name: str | None = None) -> Any:
    """The ``data`` of a documented response example (the first one unless named)."""
    document = yaml.safe_load(DOCUMENT_PATH.read_text(encoding="utf-8"))
    examples = document["components"]["responses"][response]["content"]["application/json"][
        "examples"
    ]
    example = examples[name] if name is not None else next(iter(examples.values()))
    return example["value"]["data"]


#: What Prism answers: the documented examples.
TEMPLATES = _example("GiftCardTemplateListOk")
CREATED = _example("GiftCardCreateOk")
QUERIED = _example("GiftCardQueryOk")
CARD_BALANCE = _example("BalanceOk", "cardBalance")
MERCHANT_BALANCES = _example("BalanceOk", "merchantBalances")
#: Prism answers the first example unless asked for another by name.
PREFER_MERCHANT_BALANCES = {"Prefer": "example=merchantBalances"}


@attrs.frozen
class ClientOptions:
    on_behalf_of: str | None
    api_key: str | None

    def kwargs(self, base_url: str) -> dict[str, Any]:
        return {
            "client_id": CLIENT_ID,
            "secret_key": SECRET_KEY,
            "base_url": base_url,
            "on_behalf_of": self.on_behalf_of,
            "api_key": self.api_key,
            "max_retries": 0,  # a refused request fails at once, with Prism's answer
            "timeout": 30.0,
        }


CLIENTS = {
    "merchant": ClientOptions(on_behalf_of=None, api_key=None),
    "merchant-api-key": ClientOptions(on_behalf_of=None, api_key=API_KEY),
    "institution-api-key": ClientOptions(on_behalf_of=SUB_ACCOUNT, api_key=API_KEY),
}


# --- what each call must decode to ------------------------------------------------------------


def check_templates(result: Any) -> None:
    assert isinstance(result, list)
    assert all(isinstance(template, GiftCardTemplate) for template in result)
    assert [template.template_id for template in result] == [
        item["card_temp_id"] for item in TEMPLATES
    ]
    first = TEMPLATES[0]
    assert result[0].title_en == first["title_en"]
    assert result[0].title_cn == first["title_cn"]


def check_created(result: Any) -> None:
    assert isinstance(result, GiftCard)
    assert result.card_number == CREATED["card_num"]
    assert result.key == CREATED["card_key"]
    assert result.amount == Decimal(CREATED["amount"])
    assert result.currency == CREATED["currency"]
    assert result.status is GiftCardStatus.PENDING_PAYMENT
    assert result.template_id == CREATED["card_temp_id"]


def check_queried(result: Any) -> None:
    assert isinstance(result, GiftCard)
    assert result.card_number == QUERIED["card_num"]
    assert result.key == QUERIED["key"]
    assert result.amount == Decimal(QUERIED["amount"])
    assert result.status is GiftCardStatus.NOT_REDEEMED
    assert result.created_at is not None


def check_balance(result: Any) -> None:
    assert isinstance(result, GiftCardBalance)
    assert result.card_number == CARD_BALANCE["cardNumber"]
    assert result.currency == CARD_BALANCE["currency"]
    assert result.amount == Decimal(CARD_BALANCE["amount"])


#: name -> (method of ``client.gift_cards``, its arguments, the check of its result)
OPERATIONS: dict[str, tuple[str, dict[str, Any], Callable[[Any], None]]] = {
    "list_templates": ("list_templates", {}, check_templates),
    "create": (
        "create",
        {
            "title": "api create gift card1",
            "template_id": TEMPLATES[0]["card_temp_id"],
            "currency": "USDT",
            "amount": Decimal("0.99"),
        },
        check_created,
    ),
    "query_by_card_number": ("query", {"card_number": QUERIED["card_num"]}, check_queried),
    "query_by_key": ("query", {"key": QUERIED["key"]}, check_queried),
    "balance_by_card_number": (
        "balance",
        {"card_number": CARD_BALANCE["cardNumber"]},
        check_balance,
    ),
    "balance_by_key": ("balance", {"key": QUERIED["key"]}, check_balance),
}


@pytest.fixture(params=sorted(CLIENTS))
def options(request: pytest.FixtureRequest) -> ClientOptions:
    return CLIENTS[str(request.param)]


# --- the SDK ----------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("operation", list(OPERATIONS))
async def test_async_client_matches_the_contract(
    prism_url: str, options: ClientOptions, operation: str
) -> None:
    method, arguments, check = OPERATIONS[operation]
    async with AsyncGatePay(**options.kwargs(prism_url)) as client:
        result = await getattr(client.gift_cards, method)(**arguments)
    check(result)


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_sync_client_matches_the_contract(
    prism_url: str, options: ClientOptions, operation: str
) -> None:
    # Imported here: gatepay_sync is generated (scripts/unasync.py), and a missing facade
    # should fail these tests, not the collection of the whole module.
    from gatepay_sync import GatePay

    method, arguments, check = OPERATIONS[operation]
    with GatePay(**options.kwargs(prism_url)) as client:
        result = getattr(client.gift_cards, method)(**arguments)
    check(result)


def check_merchant_balance(result: Any) -> None:
    assert isinstance(result, MerchantBalance)
    assert result.balances == {k: Decimal(v) for k, v in MERCHANT_BALANCES.items()}


@pytest.mark.anyio
async def test_async_merchant_balance_matches_the_contract(
    prism_url: str, options: ClientOptions
) -> None:
    http = httpx.AsyncClient(headers=PREFER_MERCHANT_BALANCES, trust_env=False, timeout=30.0)
    async with http, AsyncGatePay(**options.kwargs(prism_url), http_client=http) as client:
        check_merchant_balance(await client.gift_cards.merchant_balance())


def test_sync_merchant_balance_matches_the_contract(prism_url: str, options: ClientOptions) -> None:
    from gatepay_sync import GatePay

    http = httpx.Client(headers=PREFER_MERCHANT_BALANCES, trust_env=False, timeout=30.0)
    with http, GatePay(**options.kwargs(prism_url), http_client=http) as client:
        check_merchant_balance(client.gift_cards.merchant_balance())


# --- negative controls: Prism really validates ------------------------------------------------

VALID_CREATE = {
    "title": "api create gift card1",
    "templateId": "255267012439183360",
    "currency": "USDT",
    "amount": "0.99",
}


def signed_headers(body: bytes, **overrides: str) -> dict[str, str]:
    timestamp = str(time.time_ns() // 1_000_000)
    nonce = overrides.pop("nonce", secrets.token_hex(16))
    headers = {
        "Content-Type": "application/json",
        "X-GatePay-Certificate-ClientId": CLIENT_ID,
        "X-GatePay-Timestamp": timestamp,
        "X-GatePay-Nonce": nonce,
        "X-GatePay-Signature": sign(SECRET_KEY, timestamp, nonce, body),
    }
    headers.update(overrides)
    return headers


def post(prism_url: str, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    with httpx.Client(base_url=prism_url, trust_env=False, timeout=30.0) as client:
        return client.post(path, content=body, headers=headers)


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("ascii")


def assert_refused(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.headers.get("sl-violations"), dict(response.headers)


def test_control_a_valid_raw_request_is_answered_with_the_example(prism_url: str) -> None:
    body = compact(VALID_CREATE)
    response = post(prism_url, "/v1/pay/gift/create", body, signed_headers(body))
    assert response.status_code == 200, (response.status_code, response.text)
    assert "sl-violations" not in response.headers
    assert response.json()["data"]["card_num"] == CREATED["card_num"]


@pytest.mark.parametrize(
    "body",
    [
        {**VALID_CREATE, "amount": 0.99},  # amounts travel as strings
        {key: value for key, value in VALID_CREATE.items() if key != "title"},
        {**VALID_CREATE, "amount": "0.1234567"},
        {**VALID_CREATE, "currency": "usdt"},
    ],
    ids=["numeric-amount", "missing-title", "seven-decimals", "lowercase-currency"],
)
def test_control_a_wrong_body_is_refused(prism_url: str, body: dict[str, Any]) -> None:
    raw = compact(body)
    assert_refused(post(prism_url, "/v1/pay/gift/create", raw, signed_headers(raw)))


@pytest.mark.parametrize(
    "overrides",
    [
        {"nonce": "not-alnum!"},
        {"X-GatePay-Timestamp": "1737942105"},  # seconds, not milliseconds
        {"X-GatePay-Signature": "ABC"},
    ],
    ids=["nonce", "timestamp-in-seconds", "signature"],
)
def test_control_a_malformed_auth_header_is_refused(
    prism_url: str, overrides: dict[str, str]
) -> None:
    body = compact(VALID_CREATE)
    headers = signed_headers(body, **overrides)
    assert_refused(post(prism_url, "/v1/pay/gift/create", body, headers))


def test_control_a_missing_auth_header_is_refused(prism_url: str) -> None:
    body = compact(VALID_CREATE)
    headers = signed_headers(body)
    del headers["X-GatePay-Signature"]
    assert_refused(post(prism_url, "/v1/pay/gift/create", body, headers))


def test_control_an_institution_call_needs_on_behalf_of(prism_url: str) -> None:
    body = compact(VALID_CREATE)
    path = INSTITUTION + "/v1/pay/gift/create"
    assert_refused(post(prism_url, path, body, signed_headers(body)))
    answered = post(
        prism_url, path, body, signed_headers(body, **{"X-GatePay-On-Behalf-Of": SUB_ACCOUNT})
    )
    assert answered.status_code == 200, answered.text


def test_control_a_query_without_card_number_or_key_is_refused(prism_url: str) -> None:
    body = compact({"card_number": "", "key": ""})
    assert_refused(post(prism_url, "/v1/pay/gift/query", body, signed_headers(body)))

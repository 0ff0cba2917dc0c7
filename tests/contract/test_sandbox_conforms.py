"""The sandbox checked against openapi.yaml with schemathesis.

Schemathesis reads the document the sandbox serves (``GET /openapi.yaml``) and generates
requests for every operation: the document's examples, its coverage scenarios (boundaries,
wrong types, missing parameters, other methods and Content-Types) and random fuzzing, valid
and invalid. Each request is signed here the way the SDK signs: the body is serialised
once, and the X-GatePay-* headers are computed over exactly those bytes with a fresh nonce
and timestamp. An auth header that schemathesis removed or malformed on purpose stays so.
Every answer is validated against the document by schemathesis's checks (documented status
code, content type, body schema, no 5xx, invalid data not accepted), and beyond them:

- a request with a body or parameter the document forbids is refused with HTTP 400, the
  FAIL envelope, code ``400001`` (``400007`` for a wrong Content-Type) and a message;
- a request with a missing or malformed auth header gets 401 with a sandbox auth code;
- a request the document allows succeeds, or is refused (400001) for one of the rules a
  schema cannot express (``BUSINESS_RULE_REFUSALS``, listed in the document too), and is
  never refused for its signature: the signing here must be right, or the run would test
  nothing but the signature check.

The bulk runs in-process against the ASGI app (fast); a smaller pass goes through uvicorn
(``SandboxServer``) to cover the real HTTP stack, and hand-built malformed requests (bad
JSON, wrong types, missing fields, wrong Content-Types) go the same way. Examples per
operation are bounded and generation is derandomised, so the run is short and repeatable.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis import Case, GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.core import NotSet
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import CoveragePhaseData, CoverageScenario

from gatepay_async._http.signing import sign
from gatepay_async.sandbox import Sandbox, SandboxConfig, SandboxServer
from gatepay_async.sandbox._cards import Card
from tests.contract.conftest import DOCUMENT_PATH

#: A generated test case, whatever its operation.
AnyCase = Case[Any]

CLIENT_ID = "sandbox-client"
SECRET_KEY = "sandbox-secret"

HEADER_CLIENT_ID = "X-GatePay-Certificate-ClientId"
HEADER_TIMESTAMP = "X-GatePay-Timestamp"
HEADER_NONCE = "X-GatePay-Nonce"
HEADER_SIGNATURE = "X-GatePay-Signature"

#: Codes a refused invalid request may carry: invalid parameters, unsupported Content-Type.
INVALID_REQUEST_CODES = {"400001", "400007"}
#: The sandbox's codes for refused auth headers (documented in the ``Unauthorized`` response).
AUTH_CODES = {"400002", "400003", "400004", "400005"}

#: Cards the document's examples name, issued in the sandbox before the run so that the
#: examples phase reaches the success answers of query and balance too.
EXAMPLE_CARDS = (
    ("5202710871862281", "r81T4rg3FKjt2+BYUgIn0CFqwtxp9CUSHGBFYDDJ608="),
    ("2002356433468640", "yJgkiqAVCwS0tC8W5D+t9iFqwtxp9CUSHGBFYDDJ608="),
)
EXAMPLE_TEMPLATE_ID = "255267012439183360"

#: Why a request the document allows may still be refused (400001): rules a schema cannot
#: express (which cards, templates and currencies exist; GatePay's amount range). The
#: document's ``BadRequest`` response lists them. Any other refusal of a valid request is a
#: disagreement between the document and the sandbox.
BUSINESS_RULE_REFUSALS = (
    "gift card not found",
    "templateId: unknown template",
    "currency: unsupported currency",
    "amount: must be between 0.0001 and 5000000",
    "cardNumber: give either cardNumber or key, not both",  # balance: mutually exclusive
)

#: Coverage scenarios that send a body under a wrong or malformed Content-Type.
CONTENT_TYPE_PROBES = {
    CoverageScenario.MALFORMED_CONTENT_TYPE,
    CoverageScenario.UNSUPPORTED_CONTENT_TYPE,
}
UNKNOWN_PARAMETER_LOCATIONS = (ParameterLocation.QUERY, ParameterLocation.HEADER)

#: Generated examples per operation and phase (the whole contract suite stays ~1 minute).
MAX_EXAMPLES = 40
SERVER_MAX_EXAMPLES = 10
#: Where a request would go if one were ever sent without an explicit base URL: a closed
#: local port, never the production server the document names.
NOWHERE = "http://127.0.0.1:9"


def schemathesis_config(max_examples: int) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "base-url": NOWHERE,
            "generation": {
                "max-examples": max_examples,
                "deterministic": True,  # Hypothesis's derandomize: the same cases every run
                "database": "none",  # nothing written to .hypothesis/
                "mode": "all",  # positive and negative
            },
            # Stateful runs follow OpenAPI links, which the document does not declare.
            "phases": {"stateful": {"enabled": False}},
            # A valid request may be refused for a business rule (no such card or template):
            # ``check_valid_request_answer`` below checks those answers instead.
            "checks": {"positive_data_acceptance": {"enabled": False}},
        }
    )


def new_sandbox() -> Sandbox:
    sandbox = Sandbox(
        SandboxConfig(client_id=CLIENT_ID, secret_key=SECRET_KEY, pending_seconds=0.0)
    )
    for number, key in EXAMPLE_CARDS:
        added = sandbox.store.add(
            Card(
                card_num=number,
                card_key=key,
                title="contract example",
                template_id=EXAMPLE_TEMPLATE_ID,
                currency="USDT",
                amount="0.99",
                creator=10002,
                creator_name="GateUser-sandbox",
                owner=10002,
                scope="",
                create_time=int(time.time() * 1000),
            )
        )
        assert added
    return sandbox


# --- signing each generated request ----------------------------------------------------------


def wire_body(case: AnyCase) -> bytes | None:
    """The bytes to send for the case's body (serialised once), or None without a body.

    Bodies are sent as compact JSON whatever media type a case names (Content-Type probes
    send a JSON body under another type); text and bytes go as they are.
    """
    body = case.body
    if isinstance(body, NotSet):
        return None
    if isinstance(body, bytes):
        return body
    if isinstance(body, str) and "json" not in (case.media_type or "").lower():
        return body.encode("utf-8", "surrogatepass")
    return json.dumps(body, separators=(",", ":")).encode("ascii")


def _header_schemas() -> dict[str, Any]:
    document = yaml.safe_load(DOCUMENT_PATH.read_text(encoding="utf-8"))
    parameters = document["components"]["parameters"]
    return {name: parameters[name]["schema"] for name in AUTH_HEADERS}


AUTH_HEADERS = (HEADER_CLIENT_ID, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE)
AUTH_HEADER_VALIDATORS = {
    name: jsonschema.Draft202012Validator(schema) for name, schema in _header_schemas().items()
}


def sign_case(case: AnyCase, body: bytes) -> bool:
    """Put the X-GatePay-* auth headers on ``case`` for ``body``; True if left broken on purpose.

    An auth header schemathesis left out, or generated with a value the document forbids (a
    negative case), is kept as it is: the request then tests the sandbox's refusal of it.
    Every other auth header is replaced with the right value: the client id, a fresh
    timestamp and nonce, and the signature over exactly ``body`` with those values.
    """
    headers = case.headers
    kept: dict[str, str | None] = {}
    for name in AUTH_HEADERS:
        value = headers.get(name)
        if value is None or not AUTH_HEADER_VALIDATORS[name].is_valid(str(value)):
            kept[name] = None if value is None else str(value)
    timestamp = kept.get(HEADER_TIMESTAMP, str(time.time_ns() // 1_000_000))
    nonce = kept.get(HEADER_NONCE, secrets.token_hex(16))
    fresh = {
        HEADER_CLIENT_ID: CLIENT_ID,
        HEADER_TIMESTAMP: timestamp,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: sign(SECRET_KEY, timestamp or "", nonce or "", body),
    }
    headers.update({name: value for name, value in fresh.items() if name not in kept})
    return bool(kept)


def scenario(case: AnyCase) -> CoverageScenario | None:
    """The coverage scenario that built the case, if the coverage phase did."""
    meta = case.meta
    data = None if meta is None else meta.phase.data
    return data.scenario if isinstance(data, CoveragePhaseData) else None


def only_unknown_parameters(case: AnyCase) -> bool:
    """Whether the case's one violation is an undeclared query parameter or header.

    OpenAPI lists the parameters a server reads; ignoring others is conforming, so the
    sandbox may answer these as the valid requests they otherwise are.
    """
    meta = case.meta
    data = None if meta is None else meta.phase.data
    if data is None or data.parameter_location not in UNKNOWN_PARAMETER_LOCATIONS:
        return False
    if isinstance(data, CoveragePhaseData):
        return data.scenario == CoverageScenario.OBJECT_UNEXPECTED_PROPERTIES
    return bool(data.mutations) and all(
        mutation.parameter_location in UNKNOWN_PARAMETER_LOCATIONS
        and set(mutation.keywords) == {"additionalProperties"}
        for mutation in data.mutations
    )


def is_negative(case: AnyCase) -> bool:
    meta = case.meta
    return meta is not None and meta.generation.mode == GenerationMode.NEGATIVE


def describe(case: AnyCase, body: bytes | None) -> str:
    headers = {k: v for k, v in case.headers.items() if k.lower().startswith("x-gatepay")}
    meta = case.meta
    origin = "" if meta is None else f" [{meta.phase.name}: {meta.phase.data.description}]"
    return (
        f"{case.method} {case.formatted_path} query={case.query!r} headers={headers!r} "
        f"body={body!r}{origin}"
    )


def check_refusal(where: str, status: int, payload: Any) -> None:
    """An invalid request: HTTP 400, FAIL, 400001 (or 400007), and a message."""
    assert status == 400, f"invalid request answered HTTP {status}: {where}: {payload!r}"
    assert isinstance(payload, dict), where
    assert payload.get("status") == "FAIL", (where, payload)
    assert payload.get("code") in INVALID_REQUEST_CODES, (where, payload)
    assert isinstance(payload.get("errorMessage"), str), (where, payload)
    assert payload["errorMessage"].strip(), (where, payload)


def check_auth_refusal(where: str, status: int, payload: Any) -> None:
    """A request with a missing or malformed auth header: 401 and a sandbox auth code.

    A wrong Content-Type is checked first, so such a request may get 400007 instead.
    """
    if status == 400 and isinstance(payload, dict) and payload.get("code") == "400007":
        check_refusal(where, status, payload)
        return
    assert status == 401, f"bad auth header answered HTTP {status}: {where}: {payload!r}"
    assert payload.get("status") == "FAIL", (where, payload)
    assert payload.get("code") in AUTH_CODES, (where, payload)
    assert str(payload.get("errorMessage", "")).strip(), (where, payload)


def check_valid_request_answer(where: str, status: int, payload: Any) -> None:
    """A request the document allows: SUCCESS, or refused for a documented business rule."""
    if status == 200:
        assert payload.get("status") == "SUCCESS", (where, payload)
        return
    check_refusal(where, status, payload)
    message = payload["errorMessage"]
    assert payload["code"] == "400001", (where, payload)
    assert any(message.startswith(allowed) for allowed in BUSINESS_RULE_REFUSALS), (
        f"a request the document allows was refused: {where}: {payload!r}"
    )


def run_case(case: AnyCase, **transport: Any) -> None:
    """Sign, send, validate against the document, then the checks of the module docstring."""
    body = wire_body(case)
    auth_broken = sign_case(case, b"" if body is None else body)
    # Reading ``meta`` re-validates the edited headers now: ``call`` takes the containers as
    # they are when it starts as the case's baseline and would keep a stale negative label.
    negative = is_negative(case)
    if body is not None:
        transport["data"] = body
    response = case.call_and_validate(**transport)
    payload = response.json()
    where = describe(case, body)
    if case.method.upper() != case.operation.method.upper():
        assert response.status_code == 405, (where, payload)
    elif scenario(case) in CONTENT_TYPE_PROBES:
        if body is None:
            # A GET has no body, so its Content-Type is outside the contract and ignored.
            check_valid_request_answer(where, response.status_code, payload)
        else:
            check_refusal(where, response.status_code, payload)
            assert payload["code"] == "400007", (where, payload)
    elif auth_broken:
        check_auth_refusal(where, response.status_code, payload)
    elif negative and not only_unknown_parameters(case):
        check_refusal(where, response.status_code, payload)
    else:
        assert response.status_code != 401, f"refused for its signing: {where}: {payload!r}"
        check_valid_request_answer(where, response.status_code, payload)


# --- in-process, against the ASGI app ---------------------------------------------------------

#: One sandbox for the in-process run. Schemathesis's pytest integration builds its test items
#: when this module is collected, so the schema (and the app serving it) exist at import time;
#: the lazy ``schemathesis.pytest.from_fixture`` loader does not work with pytest 9.
ASGI_SANDBOX = new_sandbox()
ASGI_SCHEMA = schemathesis.openapi.from_asgi(
    "/openapi.yaml", ASGI_SANDBOX.app, config=schemathesis_config(MAX_EXAMPLES)
)


@pytest.fixture(scope="module", autouse=True)
def _close_asgi_sandbox() -> Iterator[None]:
    yield
    ASGI_SANDBOX.close()


@ASGI_SCHEMA.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_sandbox_conforms_in_process(case: AnyCase) -> None:
    run_case(case)


# --- over real HTTP, through uvicorn ----------------------------------------------------------

#: The same document read from the repository; its requests go to a uvicorn-served sandbox.
FILE_SCHEMA = schemathesis.openapi.from_path(
    DOCUMENT_PATH, config=schemathesis_config(SERVER_MAX_EXAMPLES)
)


@pytest.fixture(scope="module")
def sandbox_server() -> Iterator[SandboxServer]:
    with new_sandbox() as sandbox, SandboxServer(sandbox) as server:
        yield server


@FILE_SCHEMA.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_sandbox_conforms_over_http(case: AnyCase, sandbox_server: SandboxServer) -> None:
    run_case(case, base_url=sandbox_server.url)


def test_served_document_is_the_repository_document(sandbox_server: SandboxServer) -> None:
    with httpx.Client(trust_env=False) as client:
        response = client.get(sandbox_server.url + "/openapi.yaml")
    assert response.status_code == 200
    assert response.content == DOCUMENT_PATH.read_bytes()
    assert yaml.safe_load(response.text)["openapi"].startswith("3.1.")


# --- hand-built malformed requests -------------------------------------------------------------

CREATE = "/v1/pay/gift/create"
QUERY = "/v1/pay/gift/query"
BALANCE = "/v1/pay/balance"
INSTITUTION = "/payment/open/institution"
VALID_CREATE = {
    "title": "api create gift card1",
    "templateId": EXAMPLE_TEMPLATE_ID,
    "currency": "USDT",
    "amount": "0.99",
}


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("ascii")


def without(name: str) -> bytes:
    return compact({k: v for k, v in VALID_CREATE.items() if k != name})


def changed(**fields: Any) -> bytes:
    return compact({**VALID_CREATE, **fields})


JSON = "application/json"
#: (path, body, Content-Type, expected code): requests the document forbids, each signed
#: correctly over its exact bytes, so nothing but the malformation can be refused.
MALFORMED: dict[str, tuple[str, bytes, str | None, str]] = {
    "create: truncated JSON": (CREATE, b'{"title":', JSON, "400001"),
    "create: not UTF-8": (CREATE, b'{"title":"\xff"}', JSON, "400001"),
    "create: JSON array": (CREATE, b"[]", JSON, "400001"),
    "create: JSON string": (CREATE, b'"x"', JSON, "400001"),
    "create: JSON null": (CREATE, b"null", JSON, "400001"),
    "create: empty body": (CREATE, b"", JSON, "400001"),
    "create: deeply nested JSON": (CREATE, b"[" * 100_000, JSON, "400001"),
    "create: body over the size limit": (
        CREATE,
        changed(title="x" * 70_000),
        JSON,
        "400001",
    ),
    "create: missing title": (CREATE, without("title"), JSON, "400001"),
    "create: missing templateId": (CREATE, without("templateId"), JSON, "400001"),
    "create: missing currency": (CREATE, without("currency"), JSON, "400001"),
    "create: missing amount": (CREATE, without("amount"), JSON, "400001"),
    "create: numeric amount": (CREATE, changed(amount=0.99), JSON, "400001"),
    "create: boolean amount": (CREATE, changed(amount=True), JSON, "400001"),
    "create: numeric templateId": (
        CREATE,
        changed(templateId=255267012439183360),
        JSON,
        "400001",
    ),
    "create: null currency": (CREATE, changed(currency=None), JSON, "400001"),
    "create: object title": (CREATE, changed(title={"en": "x"}), JSON, "400001"),
    "create: empty title": (CREATE, changed(title=""), JSON, "400001"),
    "create: exponent amount": (CREATE, changed(amount="1e3"), JSON, "400001"),
    "create: negative amount": (CREATE, changed(amount="-1"), JSON, "400001"),
    "create: zero amount": (CREATE, changed(amount="0.000"), JSON, "400001"),
    "create: 7 decimals": (CREATE, changed(amount="1.1234567"), JSON, "400001"),
    "create: text/plain": (CREATE, compact(VALID_CREATE), "text/plain", "400007"),
    "create: form encoded": (
        CREATE,
        b"title=x&templateId=1&currency=USDT&amount=1",
        "application/x-www-form-urlencoded",
        "400007",
    ),
    "create: no Content-Type": (CREATE, compact(VALID_CREATE), None, "400007"),
    "query: empty object": (QUERY, b"{}", JSON, "400001"),
    "query: both empty": (QUERY, compact({"card_number": "", "key": ""}), JSON, "400001"),
    "query: numeric card_number": (
        QUERY,
        compact({"card_number": 5202710871862281}),
        JSON,
        "400001",
    ),
    "query: array key": (QUERY, compact({"key": ["a"]}), JSON, "400001"),
    "query: truncated JSON": (QUERY, b'{"key":"a', JSON, "400001"),
    "query: text/plain": (QUERY, compact({"key": "a"}), "text/plain", "400007"),
}


def send_signed(
    client: httpx.Client,
    method: str,
    path: str,
    body: bytes = b"",
    content_type: str | None = None,
    extra_headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    """Send ``body`` as it is, with correct auth headers computed over it."""
    timestamp = str(time.time_ns() // 1_000_000)
    nonce = secrets.token_hex(16)
    headers = {
        HEADER_CLIENT_ID: CLIENT_ID,
        HEADER_TIMESTAMP: timestamp,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: sign(SECRET_KEY, timestamp, nonce, body),
        **(extra_headers or {}),
    }
    if content_type is not None:
        headers["Content-Type"] = content_type
    return client.request(method, path, content=body, headers=headers, params=params)


@pytest.fixture(scope="module")
def client(sandbox_server: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox_server.url, trust_env=False) as client:
        yield client


def validate_against_document(method: str, path: str, response: httpx.Response) -> None:
    """Status code documented, JSON content type, body matching the documented schema."""
    FILE_SCHEMA[path][method].validate_response(response)


@pytest.mark.parametrize("institution", [False, True], ids=["merchant", "institution"])
@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_request_is_refused_with_a_message(
    client: httpx.Client, name: str, institution: bool
) -> None:
    path, body, content_type, code = MALFORMED[name]
    extra: dict[str, str] = {}
    if institution:
        path = INSTITUTION + path
        extra["X-GatePay-On-Behalf-Of"] = "10002"
    response = send_signed(client, "POST", path, body, content_type, extra_headers=extra)
    payload = response.json()
    check_refusal(name, response.status_code, payload)
    assert payload["code"] == code, (name, payload)
    validate_against_document("POST", path, response)


@pytest.mark.parametrize(
    ("path", "on_behalf_of"),
    [(INSTITUTION + CREATE, None), (INSTITUTION + CREATE, ""), (INSTITUTION + BALANCE, None)],
)
def test_institution_call_without_on_behalf_of_is_refused(
    client: httpx.Client, path: str, on_behalf_of: str | None
) -> None:
    method = "GET" if path.endswith(BALANCE) else "POST"
    body = b"" if method == "GET" else compact(VALID_CREATE)
    extra = {} if on_behalf_of is None else {"X-GatePay-On-Behalf-Of": on_behalf_of}
    response = send_signed(client, method, path, body, JSON, extra_headers=extra)
    payload = response.json()
    check_refusal(path, response.status_code, payload)
    assert "X-GatePay-On-Behalf-Of" in payload["errorMessage"]
    validate_against_document(method, path, response)


def test_balance_with_both_parameters_is_refused(client: httpx.Client) -> None:
    number, key = EXAMPLE_CARDS[0]
    response = send_signed(client, "GET", BALANCE, params={"cardNumber": number, "key": key})
    check_refusal("balance with both", response.status_code, response.json())
    validate_against_document("GET", BALANCE, response)


def test_create_query_balance_round_trip_conforms(client: httpx.Client) -> None:
    """The success answers of a real card, each validated against the document."""
    created = send_signed(client, "POST", CREATE, compact(VALID_CREATE), JSON)
    validate_against_document("POST", CREATE, created)
    card = created.json()["data"]
    for lookup in ({"card_number": card["card_num"]}, {"key": card["card_key"]}):
        queried = send_signed(client, "POST", QUERY, compact(lookup), JSON)
        validate_against_document("POST", QUERY, queried)
        assert queried.json()["data"]["card_num"] == card["card_num"]
    templates = send_signed(client, "GET", "/v1/pay/gift/temp/list")
    validate_against_document("GET", "/v1/pay/gift/temp/list", templates)
    for params in ({"cardNumber": card["card_num"]}, {"key": card["card_key"]}, {}):
        balance = send_signed(client, "GET", BALANCE, params=params)
        assert balance.status_code == 200, balance.text
        validate_against_document("GET", BALANCE, balance)

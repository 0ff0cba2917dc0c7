"""The OpenAPI 3.1 document of the GatePay gift card API (gatepay_async/sandbox/openapi.yaml).

The document is what schemathesis checks the sandbox against and what Prism checks the SDK's
requests against, so these tests pin down its shape: it is a valid OpenAPI 3.1 document, it
has every operation, and its schemas accept exactly what GatePay's own examples (seeds 003 and
004) and a correct client send and receive.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
from pathlib import Path
from typing import Any

import jsonschema
import openapi_spec_validator
import pytest
import referencing
import yaml
from referencing.jsonschema import DRAFT202012

DOCUMENT_PATH = Path(__file__).resolve().parents[1] / "gatepay_async" / "sandbox" / "openapi.yaml"
DOCUMENT_URI = "urn:gatepay:openapi"
INSTITUTION_PREFIX = "/payment/open/institution"

SIGNED_HEADERS = {
    "X-GatePay-Certificate-ClientId",
    "X-GatePay-Timestamp",
    "X-GatePay-Nonce",
    "X-GatePay-Signature",
}

# (method, path) -> operationId
OPERATIONS = {
    ("post", "/v1/pay/gift/create"): "createGiftCard",
    ("post", "/v1/pay/gift/query"): "queryGiftCard",
    ("get", "/v1/pay/gift/temp/list"): "listGiftCardTemplates",
    ("get", "/v1/pay/balance"): "getBalance",
    ("post", INSTITUTION_PREFIX + "/v1/pay/gift/create"): "institutionCreateGiftCard",
    ("post", INSTITUTION_PREFIX + "/v1/pay/gift/query"): "institutionQueryGiftCard",
    ("get", INSTITUTION_PREFIX + "/v1/pay/gift/temp/list"): "institutionListGiftCardTemplates",
    ("get", INSTITUTION_PREFIX + "/v1/pay/balance"): "institutionGetBalance",
}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}

# The examples from GatePay's own OpenAPI fragments, copied verbatim from the seeds.
SEED_003_REQUEST = {
    "title": "api create gift card1",
    "templateId": "255267012439183360",
    "currency": "USDT",
    "amount": "0.99",
}
SEED_003_RESPONSE = {
    "status": "SUCCESS",
    "code": "000000",
    "errorMessage": "",
    "data": {
        "card_num": "2002356433468640",
        "card_key": "yJgkiqAVCwS0tC8W5D+t9iFqwtxp9CUSHGBFYDDJ608=",
        "amount": "0.99",
        "currency": "USDT",
        "status": 1,
        "card_temp_id": "255267012439183360",
        "creator": 10002,
        "creator_name": "GateUser-8118f6f8",
        "exchange_uid": 0,
        "owner": 10002,
        "give_count": 0,
        "last_give_time": 0,
        "create_time": 1737942105582,
    },
}
SEED_004_REQUEST = {"card_number": "5202710871862281", "key": ""}
SEED_004_RESPONSE = {
    "status": "SUCCESS",
    "code": "000000",
    "errorMessage": "",
    "data": {
        "card_num": "6712561472330044",
        "key": "r81T4rg3FKjt2+BYUgIn0CFqwtxp9CUSHGBFYDDJ608=",
        "title": "",
        "creator_name": "GateUser-8118f6f8",
        "amount": "0.99",
        "status": 2,
        "currency": "USDT",
        "create_time": 1737971259259,
        "exchange_uid": 0,
        "exchange_time": 1737971259259,
    },
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded = yaml.safe_load(DOCUMENT_PATH.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def registry(document: dict[str, Any]) -> Any:
    resource = referencing.Resource.from_contents(document, default_specification=DRAFT202012)
    return referencing.Registry().with_resource(DOCUMENT_URI, resource)


def validator_for(registry: Any, ref: str) -> Any:
    """A 2020-12 validator for the schema at a local ``#/...`` pointer into the document.

    Going through the registry keeps the schema's own ``#/components/schemas/...`` references
    resolving against the whole document.
    """
    assert ref.startswith("#/"), ref
    schema = {"$ref": DOCUMENT_URI + ref}
    return jsonschema.Draft202012Validator(schema, registry=registry)


def pointer(*parts: str) -> str:
    return "#/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


def schema_validator(registry: Any, name: str) -> Any:
    return validator_for(registry, f"#/components/schemas/{name}")


def resolve(document: dict[str, Any], node: Any) -> Any:
    """Follow (possibly chained) local ``$ref``s of OpenAPI objects (parameters, responses...)."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return document["paths"][path][method]


def header_names(document: dict[str, Any], op: dict[str, Any], *, required: bool) -> set[str]:
    names = set()
    for parameter in op.get("parameters", []):
        parameter = resolve(document, parameter)
        if parameter["in"] == "header" and parameter.get("required", False) is required:
            names.add(parameter["name"])
    return names


# --- the document as a whole -------------------------------------------------------------


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    openapi_spec_validator.validate(document)


def test_invalid_document_is_rejected(document: dict[str, Any]) -> None:
    """The validator is really checking: a broken copy fails."""
    broken = copy.deepcopy(document)
    broken["paths"]["/v1/pay/gift/create"]["post"]["parameters"].append(
        {"name": "cardNumber", "in": "body", "schema": {"type": "string"}}
    )
    with pytest.raises(Exception):  # noqa: B017, PT011 - the validator's own error classes
        openapi_spec_validator.validate(broken)


def test_production_server_and_signing_rule(document: dict[str, Any]) -> None:
    assert [server["url"] for server in document["servers"]] == ["https://openplatform.gateapi.io"]
    assert "sandbox" in document["servers"][0]["description"]
    description = document["info"]["description"]
    assert "HMAC-SHA512" in description
    assert 'timestamp + "\\n" + nonce + "\\n" + body + "\\n"' in description


# --- operations and headers --------------------------------------------------------------


def test_every_operation_exists_with_its_method(document: dict[str, Any]) -> None:
    found = {
        (method, path): op["operationId"]
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in HTTP_METHODS
    }
    assert found == OPERATIONS


def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    ids = [
        op["operationId"]
        for item in document["paths"].values()
        for method, op in item.items()
        if method in HTTP_METHODS
    ]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(("method", "path"), sorted(OPERATIONS))
def test_signed_headers_on_every_operation(
    document: dict[str, Any], method: str, path: str
) -> None:
    op = operation(document, method, path)
    required = header_names(document, op, required=True)
    expected = set(SIGNED_HEADERS)
    if path.startswith(INSTITUTION_PREFIX):
        expected.add("X-GatePay-On-Behalf-Of")
    assert required == expected
    optional = header_names(document, op, required=False)
    assert optional == ({"X-GatePay-Certificate-SN"} if method == "post" else set())


@pytest.mark.parametrize(("method", "path"), sorted(OPERATIONS))
def test_bodies_only_on_post_and_only_json(
    document: dict[str, Any], method: str, path: str
) -> None:
    op = operation(document, method, path)
    if method == "get":
        assert "requestBody" not in op
        return
    body = resolve(document, op["requestBody"])
    assert body["required"] is True
    assert list(body["content"]) == ["application/json"]


@pytest.mark.parametrize("path", ["/v1/pay/balance", INSTITUTION_PREFIX + "/v1/pay/balance"])
def test_balance_query_parameters_are_optional(document: dict[str, Any], path: str) -> None:
    parameters = [resolve(document, p) for p in operation(document, "get", path)["parameters"]]
    query = {p["name"]: p for p in parameters if p["in"] == "query"}
    assert set(query) == {"cardNumber", "key"}
    assert not any(p.get("required", False) for p in query.values())


@pytest.mark.parametrize(
    "path", [INSTITUTION_PREFIX + "/v1/pay/gift/temp/list", INSTITUTION_PREFIX + "/v1/pay/balance"]
)
def test_undocumented_institution_operations_are_marked_assumed(
    document: dict[str, Any], path: str
) -> None:
    assert "ASSUMED" in operation(document, "get", path)["description"]


@pytest.mark.parametrize(
    ("header", "good", "bad"),
    [
        ("X-GatePay-Timestamp", ["1737942105582"], ["173794210558", "17379421055820", "1e12"]),
        ("X-GatePay-Nonce", ["5417061546", "a" * 32, "AbC9"], ["", "a" * 33, "abc-1", "ab c"]),
        ("X-GatePay-Signature", ["0" * 128, "ab" * 64], ["0" * 127, "A" * 128, "g" * 128]),
    ],
)
def test_header_patterns(
    document: dict[str, Any], header: str, good: list[str], bad: list[str]
) -> None:
    schema = document["components"]["parameters"][header]["schema"]
    validator = jsonschema.Draft202012Validator(schema)
    for value in good:
        assert validator.is_valid(value), value
    for value in bad:
        assert not validator.is_valid(value), value


def test_signature_example_is_the_documented_test_vector(document: dict[str, Any]) -> None:
    body = (
        b'{"title":"api create gift card1","templateId":"255267012439183360",'
        b'"currency":"USDT","amount":"0.99"}'
    )
    message = b"1737942105582\n5417061546\n" + body + b"\n"
    expected = hmac.new(b"gatepay-test-secret-0001", message, hashlib.sha512).hexdigest()
    assert document["components"]["parameters"]["X-GatePay-Signature"]["example"] == expected


# --- request schemas ---------------------------------------------------------------------


def test_create_request_accepts_seed_003_example(registry: Any) -> None:
    schema_validator(registry, "GiftCardCreateRequest").validate(SEED_003_REQUEST)


@pytest.mark.parametrize(
    "amount",
    [
        "0.99",
        "100",
        "1",
        "0.000001",
        "5000000",
        "12.345678",
        # The sandbox reads these as 0.99, 1 and 0.99 (tests/test_sandbox.py); the SDK sends
        # only the canonical form.
        "000.990000",
        "01",
        "0.9900000",
    ],
)
def test_create_request_accepts_valid_amounts(registry: Any, amount: str) -> None:
    schema_validator(registry, "GiftCardCreateRequest").validate(
        {**SEED_003_REQUEST, "amount": amount}
    )


@pytest.mark.parametrize(
    "amount",
    [
        0.99,  # a float: amounts travel as strings
        99,
        "0.9999999",  # 7 decimals
        "1.1234567",
        "0",
        "0.000000",
        "000.000",
        "-1",
        "1.",
        ".5",
        "1e3",
        " 1",
        "",
        "1" + "0" * 64,  # longer than the sandbox reads
    ],
)
def test_create_request_rejects_bad_amounts(registry: Any, amount: object) -> None:
    validator = schema_validator(registry, "GiftCardCreateRequest")
    assert not validator.is_valid({**SEED_003_REQUEST, "amount": amount})


@pytest.mark.parametrize("missing", sorted(SEED_003_REQUEST))
def test_create_request_rejects_a_missing_field(registry: Any, missing: str) -> None:
    body = {k: v for k, v in SEED_003_REQUEST.items() if k != missing}
    with pytest.raises(jsonschema.ValidationError):
        schema_validator(registry, "GiftCardCreateRequest").validate(body)


@pytest.mark.parametrize(
    "change",
    [
        {"title": ""},
        {"templateId": ""},
        {"templateId": 255267012439183360},
        {"currency": "usdt"},
        {"currency": "U"},
        {"currency": "ABCDEFGHIJK"},
    ],
)
def test_create_request_rejects_other_bad_bodies(registry: Any, change: dict[str, Any]) -> None:
    validator = schema_validator(registry, "GiftCardCreateRequest")
    assert not validator.is_valid({**SEED_003_REQUEST, **change})


def test_request_bodies_allow_unknown_fields(registry: Any) -> None:
    """GatePay's own schemas (seeds 003/004) do not forbid them and the sandbox ignores them."""
    create = schema_validator(registry, "GiftCardCreateRequest")
    create.validate({**SEED_003_REQUEST, "extra": "field"})
    query = schema_validator(registry, "GiftCardQueryRequest")
    query.validate({"card_number": "5202710871862281", "extra": 1})


@pytest.mark.parametrize(
    "body",
    [
        SEED_004_REQUEST,
        {"card_number": "5202710871862281"},
        {"key": "r81T4rg3FKjt2+BYUgIn0CFqwtxp9CUSHGBFYDDJ608="},
        {"card_number": "", "key": "r81T4rg3FKjt2+BYUgIn0CFqwtxp9CUSHGBFYDDJ608="},
        {"card_number": "5202710871862281", "key": "r81T4rg3FKjt2"},
        {"card_number": None, "key": "r81T4rg3FKjt2"},  # null counts as absent
        {"card_number": "5202710871862281", "key": None},
        {"cardNumber": "5202710871862281"},  # the official Python client's spelling
        {"key": None, "card_number": "5202710871862281", "headers": {}, "version": None},
    ],
)
def test_query_request_accepts_one_of_the_two(registry: Any, body: dict[str, Any]) -> None:
    schema_validator(registry, "GiftCardQueryRequest").validate(body)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"card_number": ""},
        {"key": ""},
        {"card_number": "", "key": ""},
        {"card_number": 5202710871862281},
        {"card_number": None},
        {"cardNumber": ""},
        {"card_number": None, "key": None},
        {"card_number": "", "key": None},
    ],
)
def test_query_request_rejects_bad_bodies(registry: Any, body: dict[str, Any]) -> None:
    assert not schema_validator(registry, "GiftCardQueryRequest").is_valid(body)


def test_request_body_examples_validate(document: dict[str, Any], registry: Any) -> None:
    for name, body in document["components"]["requestBodies"].items():
        media = body["content"]["application/json"]
        validator = validator_for(
            registry,
            pointer("components", "requestBodies", name, "content", "application/json", "schema"),
        )
        assert media["examples"], name
        for example in media["examples"].values():
            validator.validate(example["value"])


# --- response schemas --------------------------------------------------------------------


def success_validator(document: dict[str, Any], registry: Any, method: str, path: str) -> Any:
    """A validator for the schema of the operation's 200 response, wherever it is defined."""
    response = operation(document, method, path)["responses"]["200"]
    location = ["paths", path, method, "responses", "200"]
    while "$ref" in response:
        location = [
            part.replace("~1", "/").replace("~0", "~")
            for part in response["$ref"].removeprefix("#/").split("/")
        ]
        response = resolve(document, response)
    return validator_for(registry, pointer(*location, "content", "application/json", "schema"))


@pytest.mark.parametrize(
    "path", ["/v1/pay/gift/create", INSTITUTION_PREFIX + "/v1/pay/gift/create"]
)
def test_seed_003_response_validates(document: dict[str, Any], registry: Any, path: str) -> None:
    schema_validator(registry, "GiftCardCreateResponse").validate(SEED_003_RESPONSE)
    success_validator(document, registry, "post", path).validate(SEED_003_RESPONSE)


@pytest.mark.parametrize("path", ["/v1/pay/gift/query", INSTITUTION_PREFIX + "/v1/pay/gift/query"])
def test_seed_004_response_validates(document: dict[str, Any], registry: Any, path: str) -> None:
    schema_validator(registry, "GiftCardQueryResponse").validate(SEED_004_RESPONSE)
    success_validator(document, registry, "post", path).validate(SEED_004_RESPONSE)


def test_create_data_lists_seed_003_fields(document: dict[str, Any]) -> None:
    properties = document["components"]["schemas"]["GiftCardCreateData"]["properties"]
    assert set(SEED_003_RESPONSE["data"]) == set(properties)  # exactly: no title


def test_query_data_lists_seed_004_fields(document: dict[str, Any]) -> None:
    properties = document["components"]["schemas"]["GiftCardQueryData"]["properties"]
    assert set(SEED_004_RESPONSE["data"]) | {"card_temp_id"} == set(properties)


@pytest.mark.parametrize(
    "change",
    [
        {"code": None},  # GATEPAY_API.md: success code may be null
        {"label": ""},
        {"unknown_top_level": 1},  # unknown fields are kept, not refused
    ],
)
def test_success_envelope_is_not_too_strict(registry: Any, change: dict[str, Any]) -> None:
    schema_validator(registry, "GiftCardCreateResponse").validate({**SEED_003_RESPONSE, **change})


@pytest.mark.parametrize("status", list(range(9)))
def test_every_status_code_is_accepted(registry: Any, status: int) -> None:
    body = {**SEED_004_RESPONSE, "data": {**SEED_004_RESPONSE["data"], "status": status}}
    schema_validator(registry, "GiftCardQueryResponse").validate(body)


@pytest.mark.parametrize(
    "data_change",
    [
        {"status": 9},
        {"status": "2"},
        {"amount": 0.99},  # amounts are strings
        {"amount": "abc"},
        {"card_num": 6712561472330044},
        {"create_time": "1737971259259"},
    ],
)
def test_query_response_rejects_wrong_types(registry: Any, data_change: dict[str, Any]) -> None:
    body = {**SEED_004_RESPONSE, "data": {**SEED_004_RESPONSE["data"], **data_change}}
    assert not schema_validator(registry, "GiftCardQueryResponse").is_valid(body)


@pytest.mark.parametrize(
    "change",
    [{"status": "FAIL"}, {"status": "OK"}, {"data": None}, {"code": 0}],
)
def test_success_envelope_rejects_wrong_envelopes(registry: Any, change: dict[str, Any]) -> None:
    assert not schema_validator(registry, "GiftCardCreateResponse").is_valid(
        {**SEED_003_RESPONSE, **change}
    )


def test_template_list_response(registry: Any) -> None:
    validator = schema_validator(registry, "GiftCardTemplateListResponse")
    ok = {
        "status": "SUCCESS",
        "code": None,
        "label": "",
        "errorMessage": "",
        "data": [{"card_temp_id": "255267012439183360"}, {"card_temp_id": "1", "cover_type": 2}],
    }
    validator.validate(ok)
    validator.validate({**ok, "data": []})
    assert not validator.is_valid({**ok, "data": [{"image_url": "x"}]})
    assert not validator.is_valid({**ok, "data": {"card_temp_id": "1"}})


def test_balance_response_has_both_shapes(registry: Any) -> None:
    validator = schema_validator(registry, "BalanceResponse")
    envelope = {"status": "SUCCESS", "code": "000000", "label": "", "errorMessage": ""}
    card = {"cardNumber": "2002356433468640", "currency": "USDT", "amount": "0.99", "status": 2}
    validator.validate({**envelope, "data": card})
    validator.validate({**envelope, "data": {**card, "status": "CREATED"}})
    validator.validate({**envelope, "data": {"USDT": "12.50", "BTC": "0.001"}})
    validator.validate({**envelope, "data": {}})
    assert not validator.is_valid({**envelope, "data": {"USDT": 12.5}})
    assert not validator.is_valid({**envelope, "data": {"USDT": "lots"}})
    assert not validator.is_valid({**envelope, "data": [{"currency": "USDT", "available": "1"}]})
    assert not validator.is_valid({**envelope, "data": {**card, "amount": 0.99}})


@pytest.mark.parametrize("code", ["400001", "400002", "400003", "400004", "400005", "400007"])
def test_error_envelope(registry: Any, code: str) -> None:
    validator = schema_validator(registry, "ErrorEnvelope")
    body = {"status": "FAIL", "code": code, "label": "x", "errorMessage": "y", "data": None}
    validator.validate(body)
    assert not validator.is_valid({**body, "status": "SUCCESS"})
    assert not validator.is_valid({**body, "data": {}})


@pytest.mark.parametrize(("method", "path"), sorted(OPERATIONS))
def test_error_responses_use_the_fail_envelope(
    document: dict[str, Any], method: str, path: str
) -> None:
    responses = operation(document, method, path)["responses"]
    assert set(responses) == {"200", "400", "401", "429", "5XX"}
    for status in ("400", "401", "429", "5XX"):
        schema = resolve(document, responses[status])["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}


def test_error_code_descriptions_name_their_source(document: dict[str, Any]) -> None:
    responses = document["components"]["responses"]
    assert "400001" in responses["BadRequest"]["description"]
    assert "400007" in responses["BadRequest"]["description"]
    unauthorized = responses["Unauthorized"]["description"]
    for code in ("400002", "400003", "400004", "400005"):
        assert code in unauthorized
    assert "sandbox" in unauthorized


def test_every_response_example_validates(document: dict[str, Any], registry: Any) -> None:
    """Prism answers with these examples, so each must match its own schema."""
    for name, response in document["components"]["responses"].items():
        media = response["content"]["application/json"]
        validator = validator_for(
            registry,
            pointer("components", "responses", name, "content", "application/json", "schema"),
        )
        assert media.get("examples"), f"{name} has no example"
        for example_name, example in media["examples"].items():
            errors = [e.message for e in validator.iter_errors(example["value"])]
            assert not errors, (name, example_name, errors)


def test_every_success_response_has_an_example(document: dict[str, Any]) -> None:
    for method, path in OPERATIONS:
        response = resolve(document, operation(document, method, path)["responses"]["200"])
        assert response["content"]["application/json"]["examples"], (method, path)


def test_template_example_uses_the_seed_template_id(document: dict[str, Any]) -> None:
    media = document["components"]["responses"]["GiftCardTemplateListOk"]["content"]
    example = next(iter(media["application/json"]["examples"].values()))["value"]
    assert example["data"][0]["card_temp_id"] == "255267012439183360"

"""What GatePay's official clients put on the wire, and the answers each one reads.

Authored by hand from the facts in the project's API notes (the section "What the official
clients put on the wire"): no code of those clients is copied here. Where the notes leave a
detail open (the ``api`` name of a query, what Go's ``Header`` object holds, the order of
Java's fields) the choice is marked "authored"; the details the notes do fix are kept byte
for byte: Java's ``"api":"GIFT_CREATE","headers":{},"version":null`` and
``{"key":null,"card_number":...}``, Python's sorted keys with ``json.dumps``'s default
separators, ``cardNumber`` and ``\\uXXXX`` escapes, Go's ``"Header":{..},"Version":"",
"count":N``, its ``\\u003c``-style escapes and its signed trailing newline, the header
spellings (Go canonicalises them), 9-character nonces, and X-GatePay-Certificate-SN on
every POST from Java and Python and never from Go.
"""

from __future__ import annotations

import enum
import secrets
import string
from typing import Any

import attrs

from gatepay_async._http.signing import sign

__all__ = [
    "ANSWERS",
    "API_KEY",
    "CARD_KEY",
    "CARD_NUMBER",
    "ERRORS",
    "TEMPLATE_ID",
    "TITLES",
    "Peer",
    "PeerRequest",
    "balance_request",
    "create_request",
    "headers_for",
    "query_request",
    "templates_request",
]

TEMPLATE_ID = "255267012439183360"
CARD_NUMBER = "2002356433468640"
CARD_KEY = "yJgkiqAVCwS0tC8W5D+t9iFqwtxp9CUSHGBFYDDJ608="
API_KEY = "merchant-api-key-0001"
NONCE_LENGTH = 9
_NONCE_ALPHABET = string.ascii_letters + string.digits


class Peer(enum.Enum):
    JAVA = "java"
    PYTHON = "python"
    GO = "go"


#: A title per client that exercises its escaping: Python escapes non-ASCII as \uXXXX,
#: Go escapes <, > and & as \u003c, \u003e, \u0026.
TITLES = {
    Peer.JAVA: "Holiday card",
    Peer.PYTHON: "节日快乐 card",
    Peer.GO: "<Holiday> & more",
}


@attrs.frozen
class PeerRequest:
    method: str
    path: str
    body: bytes  # exactly the bytes sent and signed
    headers: tuple[tuple[str, str], ...]  # exactly the spellings sent


# ------------------------------------------------------------------------ bodies


def create_body(peer: Peer, *, title: str, amount: str = "0.99") -> bytes:
    if peer is Peer.JAVA:
        # Field order authored; the extras and their values are the notes'.
        text = (
            f'{{"title":"{title}","templateId":"{TEMPLATE_ID}","currency":"USDT",'
            f'"amount":"{amount}","api":"GIFT_CREATE","headers":{{}},"version":null}}'
        )
        return text.encode("utf-8")
    if peer is Peer.PYTHON:
        # Sorted keys, json.dumps's default ", " and ": " separators, ensure_ascii.
        escaped = "".join(c if ord(c) < 128 else f"\\u{ord(c):04x}" for c in title)
        text = (
            f'{{"amount": "{amount}", "api": "GIFT_CREATE", "currency": "USDT", '
            f'"templateId": "{TEMPLATE_ID}", "title": "{escaped}"}}'
        )
        return text.encode("ascii")
    # Go: json.Encoder escapes <, >, & and ends the document with a newline, which is
    # signed like the rest. What Header holds is authored.
    escaped = title.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    text = (
        '{"Header":{"Content-Type":"application/json"},"Version":"",'
        f'"title":"{escaped}","templateId":"{TEMPLATE_ID}","currency":"USDT",'
        f'"amount":"{amount}","count":1}}\n'
    )
    return text.encode("utf-8")


def query_body(peer: Peer, *, card_number: str) -> bytes:
    if peer is Peer.JAVA:
        # The "api" value of a query is authored ("GIFT_QUERY").
        text = (
            f'{{"key":null,"card_number":"{card_number}","api":"GIFT_QUERY",'
            '"headers":{},"version":null}'
        )
        return text.encode("utf-8")
    if peer is Peer.PYTHON:
        return f'{{"api": "GIFT_QUERY", "cardNumber": "{card_number}"}}'.encode("ascii")
    text = (
        '{"Header":{"Content-Type":"application/json"},"Version":"",'
        f'"card_number":"{card_number}","key":""}}\n'
    )
    return text.encode("utf-8")


# ------------------------------------------------------------------------ headers


def new_nonce() -> str:
    """Nine letters and digits, as every official client makes them."""
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(NONCE_LENGTH))


def headers_for(
    peer: Peer,
    method: str,
    body: bytes,
    *,
    client_id: str,
    secret: str,
    timestamp: int,
    nonce: str | None = None,
) -> tuple[tuple[str, str], ...]:
    """The headers ``peer`` sends, spelled as it spells them, signed over ``body``."""
    nonce = nonce or new_nonce()
    signature = sign(secret, str(timestamp), nonce, body)
    if peer is Peer.GO:
        # net/http canonicalises every header name: only the first letter of each
        # dash-separated word stays upper case.
        return (
            ("Content-Type", "application/json"),
            ("X-Gatepay-Certificate-Clientid", client_id),
            ("X-Gatepay-Timestamp", str(timestamp)),
            ("X-Gatepay-Nonce", nonce),
            ("X-Gatepay-Signature", signature),
        )
    headers: list[tuple[str, str]] = [
        ("Content-Type", "application/json"),
        ("X-GatePay-Certificate-ClientId", client_id),
        ("X-GatePay-Timestamp", str(timestamp)),
        ("X-GatePay-Nonce", nonce),
        ("X-GatePay-Signature", signature),
    ]
    if method == "POST":
        headers.append(("X-GatePay-Certificate-SN", API_KEY))  # Java and Python: every POST
    return tuple(headers)


def _request(peer: Peer, method: str, path: str, body: bytes, **signing: Any) -> PeerRequest:
    return PeerRequest(method, path, body, headers_for(peer, method, body, **signing))


def create_request(peer: Peer, *, title: str, **signing: Any) -> PeerRequest:
    return _request(peer, "POST", "/v1/pay/gift/create", create_body(peer, title=title), **signing)


def query_request(peer: Peer, *, card_number: str, **signing: Any) -> PeerRequest:
    body = query_body(peer, card_number=card_number)
    return _request(peer, "POST", "/v1/pay/gift/query", body, **signing)


def templates_request(peer: Peer, **signing: Any) -> PeerRequest:
    return _request(peer, "GET", "/v1/pay/gift/temp/list", b"", **signing)


def balance_request(peer: Peer, **signing: Any) -> PeerRequest:
    """The merchant balance: GET without parameters; the query string is never signed."""
    return _request(peer, "GET", "/v1/pay/balance", b"", **signing)


# ------------------------------------------------------------------------ answers


def _envelope(data: Any) -> dict[str, Any]:
    return {"status": "SUCCESS", "code": "000000", "errorMessage": "", "data": data}


#: Create and query answers typed the way each client types them (JSON text, so that a
#: JSON number stays a number). Java and Python read ``status`` and ``create_time`` as
#: strings; Go reads ints and a decimal ``amount`` that may arrive as a JSON number, and
#: its answer type adds ``batchId``, ``reason`` and ``err_msg``.
ANSWERS: dict[Peer, dict[str, str]] = {
    Peer.JAVA: {
        "create": (
            '{"status":"SUCCESS","code":"000000","errorMessage":"","data":{'
            f'"card_num":"{CARD_NUMBER}","card_key":"{CARD_KEY}","amount":"0.99",'
            f'"currency":"USDT","status":"1","card_temp_id":"{TEMPLATE_ID}",'
            '"creator":"10002","creator_name":"GateUser-8118f6f8","exchange_uid":"0",'
            '"owner":"10002","give_count":"0","last_give_time":"0",'
            '"create_time":"1737942105582"}}'
        ),
        "query": (
            '{"status":"SUCCESS","code":"000000","errorMessage":"","data":{'
            f'"card_num":"{CARD_NUMBER}","key":"{CARD_KEY}","title":"","creator_name":'
            '"GateUser-8118f6f8","amount":"0.99","status":"2","currency":"USDT",'
            f'"card_temp_id":"{TEMPLATE_ID}","create_time":"1737971259259",'
            '"exchange_uid":"0","exchange_time":"1737971259259"}}'
        ),
        "balance": '{"status":"SUCCESS","code":"000000","data":{"USDT":"12.50","BTC":"0.001"}}',
        "templates": (
            '{"status":"SUCCESS","code":"000000","data":[{"card_temp_id":"'
            f'{TEMPLATE_ID}","image_url":"https://example.invalid/c.png","title_en":"Holiday",'
            '"title_cn":"节日","cover_type":"1"}]}'
        ),
    },
    Peer.PYTHON: {
        "create": (
            '{"status": "SUCCESS", "code": "000000", "errorMessage": "", "data": {'
            f'"card_num": "{CARD_NUMBER}", "card_key": "{CARD_KEY}", "amount": "0.99", '
            f'"currency": "USDT", "status": "1", "card_temp_id": "{TEMPLATE_ID}", '
            '"create_time": "1737942105582"}}'
        ),
        "query": (
            '{"status": "SUCCESS", "code": "000000", "errorMessage": "", "data": {'
            f'"card_num": "{CARD_NUMBER}", "key": "{CARD_KEY}", "amount": "0.99", '
            '"status": "2", "currency": "USDT", "create_time": "1737971259259"}}'
        ),
        "balance": (
            '{"status": "SUCCESS", "code": "000000", "data": {"USDT": "12.50", "BTC": "0.001"}}'
        ),
        "templates": (
            '{"status": "SUCCESS", "code": "000000", "data": [{"card_temp_id": '
            f'"{TEMPLATE_ID}", "image_url": "https://example.invalid/c.png", '
            '"title_en": "Holiday", "title_cn": "\\u8282\\u65e5", "cover_type": 1}]}'
        ),
    },
    Peer.GO: {
        "create": (
            '{"status":"SUCCESS","code":"000000","errorMessage":"","data":{'
            f'"card_num":"{CARD_NUMBER}","card_key":"{CARD_KEY}","amount":0.99,'
            f'"currency":"USDT","status":1,"card_temp_id":"{TEMPLATE_ID}","creator":10002,'
            '"creator_name":"GateUser-8118f6f8","exchange_uid":0,"owner":10002,'
            '"give_count":0,"last_give_time":0,"create_time":1737942105582,'
            '"batchId":"b-20250127-1","reason":"","err_msg":""}}\n'
        ),
        "query": (
            '{"status":"SUCCESS","code":"000000","errorMessage":"","data":{'
            f'"card_num":"{CARD_NUMBER}","key":"{CARD_KEY}","title":"","creator_name":'
            '"GateUser-8118f6f8","amount":0.99,"status":2,"currency":"USDT",'
            f'"card_temp_id":"{TEMPLATE_ID}","create_time":1737971259259,'
            '"exchange_uid":0,"exchange_time":1737971259259}}\n'
        ),
        "balance": '{"status":"SUCCESS","code":"000000","data":{"USDT":"12.50","BTC":"0.001"}}\n',
        "templates": (
            '{"status":"SUCCESS","code":"000000","data":[{"card_temp_id":"'
            f'{TEMPLATE_ID}","image_url":"https://example.invalid/c.png","title_en":"Holiday",'
            '"title_cn":"节日","cover_type":1}]}\n'
        ),
    },
}

#: Refusals in each client's typing: Java and Python read a FAIL envelope with string
#: fields; Go types ``code`` and ``errorMessage`` as "any": a JSON number and an object.
#: (HTTP status, body)
ERRORS: dict[Peer, tuple[int, str]] = {
    Peer.JAVA: (
        200,
        '{"status":"FAIL","code":"400001","label":"Invalid request parameters",'
        '"errorMessage":"amount: invalid","data":null}',
    ),
    Peer.PYTHON: (
        400,
        '{"status": "FAIL", "code": "400001", "label": "Invalid request parameters", '
        '"errorMessage": "amount: invalid", "data": null}',
    ),
    Peer.GO: (
        400,
        '{"status":"FAIL","code":400001,"label":"Invalid request parameters",'
        '"errorMessage":{"field":"amount","msg":"amount: invalid"},"data":null}\n',
    ),
}

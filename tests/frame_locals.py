"""What a merchant's error tools see of a raised error: every frame's locals, rendered
the ways rich, structlog, Sentry and Django render them, and the servers that make each
operation fail.

Shared by ``tests/_async/test_frame_locals.py`` and its generated sync twin.
"""

from __future__ import annotations

import json
import pprint
import socket
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any
from urllib.parse import quote

import rich.pretty
from sentry_sdk.serializer import serialize

from tests.raw_server import RawServer, Request, Respond, answer
from tests.secret_leaks import all_exceptions

__all__ = [
    "API_KEY",
    "CARD",
    "CARD_NUMBER",
    "FAILURES",
    "KEY",
    "OPERATIONS",
    "SECRET",
    "all_exceptions",
    "frames",
    "leaked",
    "local_renderings",
    "responder",
]

SECRET = "frames-Signing-Secret-7Qx2Lm9Vb4"
API_KEY = "frames-Api-Key-Cert-8Hn3Kd6Wp1"
KEY = "q8Zf3Lm+Wx0/Tb7PkR2nYc5Vd1Hs9Ja4Ge6Ui8Oo3E="  # shaped like GatePay's: base64
CARD_NUMBER = "GC900100200300"
CARD = {"card_num": CARD_NUMBER, "card_key": KEY, "amount": "1", "currency": "USDT"}
SECRETS = (SECRET, API_KEY, KEY)

#: Every public operation that sends: create, query and balance by either lookup, a wait
#: for a status by key, the merchant's balance and the templates; and a create with an
#: idempotency key, once (its answer handling through the ledger) and again (the ledger's
#: lookup of the row the first left unknown, raw answer and all).
OPERATIONS = (
    "create",
    "create_idempotent",
    "create_idempotent_again",
    "query_key",
    "query_card_number",
    "balance_key",
    "balance_card_number",
    "wait_for_status_key",
    "merchant_balance",
    "list_templates",
)


def _hang_up(conn: socket.socket, request: Request, server: RawServer) -> None:
    conn.close()  # the request was read: for a create, the outcome is unknown


def _too_slow(conn: socket.socket, request: Request, server: RawServer) -> None:
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and not server.stopping():
        time.sleep(0.02)


def _server_error(conn: socket.socket, request: Request, server: RawServer) -> None:
    # A 5xx whose body echoes the card, as a failing proxy or a debug page may.
    body = {"status": "FAIL", "code": "500000", "errorMessage": "upstream failed", "data": CARD}
    answer(conn, "503 Service Unavailable", json.dumps(body).encode())


def _fail_with_a_card(conn: socket.socket, request: Request, server: RawServer) -> None:
    # A create answer that holds a card and contradicts itself: an unknown outcome whose
    # raw answer (kept on the error) holds the key.
    body = {"status": "FAIL", "code": "400001", "errorMessage": "rejected", "data": CARD}
    answer(conn, "200 OK", json.dumps(body).encode(), {"Content-Type": "application/json"})


def _unreadable_card(conn: socket.socket, request: Request, server: RawServer) -> None:
    # SUCCESS whose data is a string of broken JSON around the card: nothing decodes it.
    data = json.dumps(CARD)[:-1] + ', "give_count": '
    body = {"status": "SUCCESS", "code": "000000", "data": data}
    answer(conn, "200 OK", json.dumps(body).encode(), {"Content-Type": "application/json"})


FAILURES: dict[str, Respond] = {
    "connection lost": _hang_up,
    "timeout": _too_slow,
    "5xx holding a card": _server_error,
    "FAIL holding a card": _fail_with_a_card,
    "unreadable answer holding a card": _unreadable_card,
}


def responder(failure: str) -> Respond:
    return FAILURES[failure]


def frames(exc: BaseException) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, f_locals)`` of every frame of every traceback reachable from ``exc``."""
    for item in all_exceptions(exc):
        tb: TracebackType | None = item.__traceback__
        while tb is not None:
            code = tb.tb_frame.f_code
            yield (
                f"{type(item).__name__} in {code.co_name} ({code.co_filename})",
                dict(tb.tb_frame.f_locals),
            )
            tb = tb.tb_next


def local_renderings(value: object) -> Iterator[str]:
    """``value`` as each tool renders a local: ``repr``, rich.pretty (structlog's
    ``dict_tracebacks`` and rich tracebacks), ``pprint`` (Django's error page) and
    Sentry's serializer of frame variables."""
    yield repr(value)
    yield rich.pretty.pretty_repr(value)
    yield pprint.pformat(value)
    yield json.dumps(serialize({"v": value}, is_vars=True), default=str)


def leaked(text: str) -> list[str]:
    """Pieces of 8 characters of a secret (as is, or URL-encoded) found in ``text``."""
    found = []
    for secret in SECRETS:
        for form in {secret, quote(secret, safe="")}:
            found += [form[i : i + 8] for i in range(len(form) - 7) if form[i : i + 8] in text]
    return found

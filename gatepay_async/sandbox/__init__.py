# unasync: async-only
"""A local GatePay: an ASGI (Starlette) app that behaves like GatePay's gift-card API.

Use it in tests through ``httpx.ASGITransport(app=Sandbox(config).app)``, over real HTTP
with ``SandboxServer`` (uvicorn on 127.0.0.1 in a background thread), or from a shell
with ``python -m gatepay_async.sandbox --port 8765`` (the same as ``gatepay sandbox``).

Endpoints (operation names in brackets, used by faults and ``Sandbox.attempts``):

- merchant: ``POST /v1/pay/gift/create`` [create], ``POST /v1/pay/gift/query`` [query],
  ``GET /v1/pay/gift/temp/list`` [templates], ``GET /v1/pay/balance`` [balance];
- institution: the same under ``/payment/open/institution``; these need the header
  ``X-GatePay-On-Behalf-Of``, and a card created on behalf of a sub-account is visible
  only to that sub-account;
- older paths (seed 000): ``POST /v1/pay/giftcard/create``,
  ``GET /v1/pay/giftcard/query?cardNumber=..|key=..``, ``GET /v1/pay/giftcard/template/list``,
  ``GET /v1/pay/balance/query?cardNumber=..|key=..``; these answer camelCase fields.

``GET /v1/pay/balance`` with ``cardNumber`` (or ``card_number``) or ``key`` answers one
card's balance; with neither, the merchant's balances as GatePay's official clients parse
them: a flat object mapping each currency to a decimal string. Create answers carry exactly
seed 003's fields (no ``title``), query answers seed 004's. Requests in the official Java,
Python and Go clients' styles are accepted: extra body fields (``api``, ``headers``,
``version``, ``Header``, ``Version``, ``count``; one card is issued whatever ``count``
says), ``cardNumber`` in a query body, any JSON spacing or trailing newline (the signature
covers the bytes as sent), header names in any case, nonces of any length up to 32.

Codes: ``400001`` and ``400007`` are GatePay's; ``400002``-``400005`` and the
``<status>000`` codes are this sandbox's conventions (``gatepay_async._codes``).

Every answer is ``{"status","code","label","errorMessage","data"}`` JSON, carries a
``Date`` header from the sandbox clock (``clock_offset`` included) and is signed like a
request: ``X-GatePay-Timestamp``, ``X-GatePay-Nonce``, ``X-GatePay-Signature`` over the
answer's body.

Error conventions (checked in this order; the first failure answers):

====================================================  ====  ======  ==========================
check                                                 HTTP  code    label
====================================================  ====  ======  ==========================
unknown path / wrong method (sandbox codes)           404   404000  Not Found
                                                      405   405000  Method Not Allowed
POST without ``Content-Type: application/json``       400   400007  Unsupported Content-Type
body over ``max_body_bytes``                          400   400001  Invalid request parameters
an auth header missing, or an unknown client id       401   400004  Invalid client
timestamp not integer ms, or over 10 s from the       401   400003  Invalid timestamp
sandbox clock (either direction)
nonce not 1-32 ASCII letters/digits, or replayed      401   400005  Invalid nonce
within the window
signature wrong (over the raw body; GET: empty body)  401   400002  Invalid signature
institution call without ``X-GatePay-On-Behalf-Of``   400   400001  Invalid request parameters
(or with one over 64 characters)
body/query invalid: malformed JSON, a missing,        400   400001  Invalid request parameters
empty or mistyped field, unknown template or
currency, bad amount; the message names the field,
e.g. ``amount: must be between 0.0001 and 5000000``
no such card (in the caller's scope)                  400   400001  ``gift card not found``
====================================================  ====  ======  ==========================

No request answers HTTP 500 unless a fault asks for it.

Faults (``Sandbox.inject(Fault(...))``, ``parse_fault("create:status=503,times=2")``,
``--fault`` on the command line, ``POST /_sandbox/faults``): ``latency``, ``status``,
``drop_before``, ``drop_after``, ``malformed_json``, ``html_error``,
``wrong_content_type``, ``data_as_string``, ``reject_timestamp``, ``clock_offset``.
A drop sends the response head with a ``Content-Length`` larger than the part of the
body that follows, then raises :class:`SandboxDroppedConnection`: uvicorn closes the
connection, and through ``httpx.ASGITransport`` the exception (an
``httpx.RemoteProtocolError``) reaches the client directly.

Test helpers play the card holder's and GatePay's side of a card's life (GatePay offers
merchants no such call; the results show through query and balance):
``Sandbox.redeem(number, uid=...)``, ``gift(number, to_uid)``, ``freeze``, ``expire``,
``cancel``, ``set_status(number, status)``, and ``script_new_cards("payment_failed:10%:
after=2s")`` for scripted outcomes of new cards (see ``_lifecycle`` and ``_scripts``).
Statuses without an integer code (EXPIRED, CANCELLED) are answered as those strings.

Admin endpoints (not GatePay-signed; each needs ``Authorization: Bearer <admin token>``,
the token is ``Sandbox.admin_token``, random unless ``SandboxConfig.admin_token`` is set,
and printed when the sandbox starts; without it 401, with a wrong one 403):
``GET /_sandbox/stats``, ``POST /_sandbox/faults`` with ``{"spec": "..."}`` (or
``{"specs": [...]}``), ``DELETE /_sandbox/faults``, ``POST /_sandbox/reset`` (zero the
counters), ``GET /_sandbox/cards/{number}``, ``POST /_sandbox/cards/{number}/{action}``
(``redeem`` ``{"uid": N}``, ``gift`` ``{"to_uid": N}``, ``freeze``, ``expire``,
``cancel``, ``status`` ``{"status": "payment_failed"}``; 404 no such card, 409 a status
that does not allow the action), ``POST /_sandbox/scripts`` ``{"spec": "..."}`` and
``DELETE /_sandbox/scripts``. ``GET /openapi.yaml`` serves the spec shipped beside this
package, when there is one.
"""

from gatepay_async.sandbox._command import config_from_params, main, sandbox_command
from gatepay_async.sandbox._config import SandboxConfig
from gatepay_async.sandbox._faults import KINDS, OPERATIONS, Fault, parse_fault
from gatepay_async.sandbox._fixture import GatePaySandbox
from gatepay_async.sandbox._lifecycle import CardNotFound, TransitionRefused
from gatepay_async.sandbox._responses import SandboxDroppedConnection
from gatepay_async.sandbox._sandbox import Sandbox
from gatepay_async.sandbox._scripts import ScriptRule, parse_script
from gatepay_async.sandbox._server import SandboxServer
from gatepay_async.sandbox._store import CardStore, MemoryStore, SqliteStore

__all__ = [
    "KINDS",
    "OPERATIONS",
    "CardNotFound",
    "CardStore",
    "Fault",
    "GatePaySandbox",
    "MemoryStore",
    "Sandbox",
    "SandboxConfig",
    "SandboxDroppedConnection",
    "SandboxServer",
    "ScriptRule",
    "SqliteStore",
    "TransitionRefused",
    "config_from_params",
    "main",
    "parse_fault",
    "parse_script",
    "sandbox_command",
]

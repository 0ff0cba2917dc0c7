"""The Starlette application: gift-card routes on three path sets, admin routes, openapi.yaml."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from gatepay_async._codes import http_status_code
from gatepay_async.sandbox._faults import parse_fault
from gatepay_async.sandbox._handlers import INSTITUTION, LEGACY, MERCHANT
from gatepay_async.sandbox._lifecycle import CardNotFound, TransitionRefused
from gatepay_async.sandbox._responses import dumps, fail_envelope, http_phrase, signed_headers
from gatepay_async.sandbox._scripts import parse_script

if TYPE_CHECKING:
    from gatepay_async.sandbox._sandbox import Sandbox

__all__ = ["GIFT_ROUTES", "build_app"]

_INSTITUTION_PREFIX = "/payment/open/institution"

#: (method, path, operation, path set) for every gift-card endpoint.
GIFT_ROUTES: tuple[tuple[str, str, str, str], ...] = (
    ("POST", "/v1/pay/gift/create", "create", MERCHANT),
    ("POST", "/v1/pay/gift/query", "query", MERCHANT),
    ("GET", "/v1/pay/gift/temp/list", "templates", MERCHANT),
    ("GET", "/v1/pay/balance", "balance", MERCHANT),
    ("POST", f"{_INSTITUTION_PREFIX}/v1/pay/gift/create", "create", INSTITUTION),
    ("POST", f"{_INSTITUTION_PREFIX}/v1/pay/gift/query", "query", INSTITUTION),
    ("GET", f"{_INSTITUTION_PREFIX}/v1/pay/gift/temp/list", "templates", INSTITUTION),
    ("GET", f"{_INSTITUTION_PREFIX}/v1/pay/balance", "balance", INSTITUTION),
    ("POST", "/v1/pay/giftcard/create", "create", LEGACY),
    ("GET", "/v1/pay/giftcard/query", "query", LEGACY),
    ("GET", "/v1/pay/giftcard/template/list", "templates", LEGACY),
    ("GET", "/v1/pay/balance/query", "balance", LEGACY),
)

_OPENAPI = Path(__file__).with_name("openapi.yaml")


class _GiftEndpoint:
    """A raw ASGI endpoint, so a fault can break the connection in mid-answer."""

    __slots__ = ("_api", "_method", "_operation", "_sandbox")

    def __init__(self, sandbox: Sandbox, method: str, operation: str, api: str) -> None:
        self._sandbox = sandbox
        self._method = method
        self._operation = operation
        self._api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._sandbox.handle(self._operation, self._api, self._method, scope, receive, send)


_Handler = Callable[[Request], Awaitable[Response]]
#: Longest Authorization header looked at; anything longer is refused unread.
_MAX_AUTHORIZATION = 300
_MAX_ADMIN_BODY = 16384


def _require_token(sandbox: Sandbox, handler: _Handler) -> _Handler:
    """Wrap an admin endpoint: 401 without ``Authorization: Bearer <token>``, 403 with a
    wrong token. The compare takes the same time wherever the tokens differ."""
    expected = sandbox.admin_token.encode("utf-8")

    async def guarded(request: Request) -> Response:
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if len(given) > _MAX_AUTHORIZATION or scheme.lower() != "bearer" or not token:
            return JSONResponse(
                {"error": "admin endpoints need Authorization: Bearer <admin token>"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="gatepay-sandbox"'},
            )
        if not hmac.compare_digest(token.strip().encode("utf-8"), expected):
            return JSONResponse({"error": "wrong admin token"}, status_code=403)
        return await handler(request)

    return guarded


async def _json_body(request: Request) -> object:
    """The admin request's JSON body (``{}`` when empty); ValueError when unreadable."""
    body = await request.body()
    if len(body) > _MAX_ADMIN_BODY:
        raise ValueError(f"body: must be at most {_MAX_ADMIN_BODY} bytes")
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise ValueError("body: malformed JSON") from None


class _Admin:
    """Control endpoints for tests in other processes and the command line.

    Not GatePay-signed: they need the sandbox's admin token instead (see ``_require_token``).
    """

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    def _faults_response(self, status_code: int = 200) -> JSONResponse:
        return JSONResponse(
            {"faults": [fault.spec for fault in self._sandbox.faults]}, status_code=status_code
        )

    async def stats(self, request: Request) -> Response:
        sandbox = self._sandbox
        return JSONResponse(
            {
                "attempts": sandbox.attempts_by_operation(),
                "cards": sandbox.store.count(),
                "faults": [fault.spec for fault in sandbox.faults],
                "nonces": len(sandbox.nonces_seen),
            }
        )

    async def add_faults(self, request: Request) -> Response:
        try:
            payload = json.loads(await request.body())
        except (ValueError, RecursionError):
            return JSONResponse({"error": "body: malformed JSON"}, status_code=400)
        specs = None
        if isinstance(payload, dict):
            specs = payload.get("specs", [payload["spec"]] if "spec" in payload else None)
        if not isinstance(specs, list) or not all(isinstance(s, str) for s in specs):
            return JSONResponse(
                {"error": 'body: expected {"spec": "..."} or {"specs": ["...", ...]}'},
                status_code=400,
            )
        try:
            faults = [parse_fault(spec) for spec in specs]
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        for fault in faults:
            self._sandbox.inject(fault)
        return self._faults_response()

    async def clear_faults(self, request: Request) -> Response:
        self._sandbox.clear_faults()
        return self._faults_response()

    async def reset(self, request: Request) -> Response:
        self._sandbox.reset_counters()
        return JSONResponse({"attempts": self._sandbox.attempts_by_operation()})

    async def card(self, request: Request) -> Response:
        try:
            state = self._sandbox.card_state(request.path_params["card_number"])
        except CardNotFound as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        return JSONResponse(state)

    async def card_action(self, request: Request) -> Response:
        """POST /_sandbox/cards/{card_number}/{action}: redeem {"uid"}, gift {"to_uid"},
        freeze, expire, cancel, status {"status"}."""
        sandbox = self._sandbox
        number = request.path_params["card_number"]
        action = request.path_params["action"]
        try:
            payload = await _json_body(request)
            if not isinstance(payload, dict):
                raise ValueError("body: expected a JSON object")
            if action == "redeem":
                state = sandbox.redeem(number, uid=payload.get("uid"))
            elif action == "gift":
                if "to_uid" not in payload:
                    raise ValueError('body: gift needs {"to_uid": <uid>}')
                state = sandbox.gift(number, payload["to_uid"])
            elif action in ("freeze", "expire", "cancel"):
                state = getattr(sandbox, action)(number)
            elif action == "status":
                if "status" not in payload:
                    raise ValueError('body: needs {"status": <name or code>}')
                state = sandbox.set_status(number, payload["status"])
            else:
                return JSONResponse(
                    {
                        "error": f"unknown action {action!r}: redeem, gift, freeze, expire,"
                        " cancel or status"
                    },
                    status_code=404,
                )
        except CardNotFound as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        except TransitionRefused as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(state)

    async def add_scripts(self, request: Request) -> Response:
        try:
            payload = await _json_body(request)
            specs = None
            if isinstance(payload, dict):
                specs = payload.get("specs", [payload["spec"]] if "spec" in payload else None)
            if not isinstance(specs, list) or not all(isinstance(s, str) for s in specs):
                raise ValueError('body: expected {"spec": "..."} or {"specs": ["...", ...]}')
            rules = [parse_script(spec) for spec in specs]
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        for rule in rules:
            self._sandbox.script_new_cards(rule.spec)
        return JSONResponse({"scripts": self._sandbox.scripts})

    async def clear_scripts(self, request: Request) -> Response:
        self._sandbox.clear_scripts()
        return JSONResponse({"scripts": []})


async def _openapi(request: Request) -> Response:
    try:
        text = _OPENAPI.read_bytes()
    except OSError:
        raise HTTPException(404, "openapi.yaml is not available") from None
    return Response(text, media_type="application/yaml")


def build_app(sandbox: Sandbox) -> Starlette:
    """The sandbox's ASGI application (built once per Sandbox)."""
    admin = _Admin(sandbox)
    routes: list[BaseRoute] = [
        Route(path, _GiftEndpoint(sandbox, method, operation, api), methods=[method])
        for method, path, operation, api in GIFT_ROUTES
    ]
    admin_routes: list[tuple[str, _Handler, str]] = [
        ("/_sandbox/stats", admin.stats, "GET"),
        ("/_sandbox/faults", admin.add_faults, "POST"),
        ("/_sandbox/faults", admin.clear_faults, "DELETE"),
        ("/_sandbox/reset", admin.reset, "POST"),
        ("/_sandbox/scripts", admin.add_scripts, "POST"),
        ("/_sandbox/scripts", admin.clear_scripts, "DELETE"),
        ("/_sandbox/cards/{card_number}", admin.card, "GET"),
        ("/_sandbox/cards/{card_number}/{action}", admin.card_action, "POST"),
    ]
    routes += [
        Route(path, _require_token(sandbox, handler), methods=[method])
        for path, handler, method in admin_routes
    ]
    routes.append(Route("/openapi.yaml", _openapi, methods=["GET"]))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        status = exc.status_code
        detail = exc.detail if status != 405 else f"method {request.method} not allowed here"
        if status == 404 and request.url.path != "/openapi.yaml":
            detail = f"no such endpoint: {request.method} {request.url.path}"
        body = dumps(fail_envelope(http_status_code(status), http_phrase(status), detail))
        headers = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in signed_headers(sandbox.config.secret_key, sandbox.now(), body)
        }
        headers.update(exc.headers or {})
        return Response(body, status_code=status, headers=headers, media_type="application/json")

    return Starlette(routes=routes, exception_handlers={HTTPException: http_error})

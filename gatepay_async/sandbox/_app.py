"""The Starlette application: gift-card routes on three path sets, admin routes, openapi.yaml."""

from __future__ import annotations

import json
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
from gatepay_async.sandbox._responses import dumps, fail_envelope, http_phrase, signed_headers

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


class _Admin:
    """Unsigned control endpoints for tests in other processes and the command line."""

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
    routes += [
        Route("/_sandbox/stats", admin.stats, methods=["GET"]),
        Route("/_sandbox/faults", admin.add_faults, methods=["POST"]),
        Route("/_sandbox/faults", admin.clear_faults, methods=["DELETE"]),
        Route("/_sandbox/reset", admin.reset, methods=["POST"]),
        Route("/openapi.yaml", _openapi, methods=["GET"]),
    ]

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

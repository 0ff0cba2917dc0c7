"""The Sandbox: state (store, faults, counters) and how one gift-card request is served."""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

from gatepay_async._codes import http_status_code
from gatepay_async._models import GiftCardStatus
from gatepay_async.sandbox import _lifecycle
from gatepay_async.sandbox._app import build_app
from gatepay_async.sandbox._cards import Card, status_at
from gatepay_async.sandbox._config import SandboxConfig
from gatepay_async.sandbox._faults import (
    NO_FAULT,
    OPERATIONS,
    PRE_PROCESSING_KINDS,
    Fault,
    FaultSet,
)
from gatepay_async.sandbox._handlers import INSTITUTION, Operations
from gatepay_async.sandbox._responses import (
    CODE_BAD_TIMESTAMP,
    JSON,
    Rejection,
    drop_connection,
    dumps,
    fail_envelope,
    http_phrase,
    send_response,
    success_envelope,
)
from gatepay_async.sandbox._scripts import NewCardScripts, parse_script, parse_status
from gatepay_async.sandbox._store import CardStore, open_store
from gatepay_async.sandbox._verify import (
    MAX_NONCE,
    MAX_ON_BEHALF_OF,
    ReplayCache,
    RequestHeaders,
    authenticate,
    check_content_type,
)

__all__ = ["Sandbox"]

_NAMED_OPERATIONS = tuple(op for op in OPERATIONS if op != "*")
#: How many received nonces ``nonces_seen`` keeps (the oldest are forgotten past this).
MAX_NONCES_KEPT = 2_000_000

_HTML_ERROR = (
    "<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_HTML = b"text/html; charset=utf-8"
_TEXT = b"text/plain; charset=utf-8"
#: What a client receives before a ``drop_before`` fault breaks the connection.
_DROP_BEFORE_BODY = dumps(success_envelope({"card_num": ""}))


def _retry_after(seconds: float | None) -> list[tuple[bytes, bytes]]:
    if seconds is None:
        return []
    text = str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"
    return [(b"retry-after", text.encode("ascii"))]


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None when it is longer than ``limit`` bytes."""
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body if len(body) <= limit else None
    chunks = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
    return b"".join(chunks) if size <= limit else None


class Sandbox:
    """A GatePay look-alike. ``sandbox.app`` is its ASGI application.

    Cards go to ``sandbox.store`` (memory, or SQLite when ``config.db_path`` is set).
    Faults change how requests are answered; counters tell tests what reached the app.
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config: SandboxConfig = SandboxConfig() if config is None else config
        self.store: CardStore = open_store(self.config.db_path)
        self._faults = FaultSet()
        for fault in self.config.faults:
            self._faults.add(fault)
        self._replay = ReplayCache(self.config.timestamp_window)
        self._attempts: dict[str, int] = dict.fromkeys(_NAMED_OPERATIONS, 0)
        self._nonces: deque[str] = deque(maxlen=MAX_NONCES_KEPT)
        self._scripts = NewCardScripts()
        for rule in self.config.scripts:
            self._scripts.add(rule)
        self._lifecycle_lock = threading.Lock()
        #: What the ``/_sandbox/*`` endpoints require (``Authorization: Bearer ...``).
        self.admin_token: str = self.config.admin_token or secrets.token_urlsafe(24)
        self._operations = Operations(self.config, self.store, self._scripts)
        self.app: ASGIApp = build_app(self)

    # -- control ---------------------------------------------------------------------

    def inject(self, fault: Fault) -> None:
        """Activate ``fault`` (after those already active)."""
        self._faults.add(fault)

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        """The active faults, each with ``times`` set to what is left of it."""
        return self._faults.snapshot()

    def attempts(self, operation: str) -> int:
        """Requests for ``operation`` that reached the app, rejected and faulted ones
        included; ``"*"`` counts all operations."""
        if operation == "*":
            return sum(self._attempts.values())
        if operation not in self._attempts:
            raise ValueError(
                f"unknown operation {operation!r}; expected one of {', '.join(OPERATIONS)}"
            )
        return self._attempts[operation]

    def attempts_by_operation(self) -> dict[str, int]:
        return dict(self._attempts)

    @property
    def nonces_seen(self) -> list[str]:
        """Every ``X-GatePay-Nonce`` of at most 32 characters received, in order,
        duplicates included (longer ones are refused and not kept)."""
        return list(self._nonces)

    def reset_counters(self) -> None:
        """Zero the attempt counters and forget every nonce: ``nonces_seen`` and the replay
        cache, so a nonce used before the reset is accepted again. Cards and faults stay."""
        for operation in self._attempts:
            self._attempts[operation] = 0
        self._nonces.clear()
        self._replay.clear()

    # -- the card holder's and GatePay's side (see _lifecycle) -------------------------

    def redeem(self, card_number: str, *, uid: int | None = None) -> dict[str, object]:
        """The holder redeems the card: REDEEMED, ``exchange_uid`` (``uid``, default
        20001) and ``exchange_time`` set, balance zero. Needs NOT_REDEEMED."""
        return self._change(card_number, "redeem", uid=uid)

    def gift(self, card_number: str, to_uid: int) -> dict[str, object]:
        """The owner gifts the card on: ``owner`` becomes ``to_uid``, ``give_count`` + 1,
        ``last_give_time`` set. Needs NOT_REDEEMED."""
        return self._change(card_number, "gift", uid=to_uid)

    def freeze(self, card_number: str) -> dict[str, object]:
        """GatePay freezes the card: FROZEN."""
        return self._change(card_number, "freeze")

    def expire(self, card_number: str) -> dict[str, object]:
        """The card expires: EXPIRED."""
        return self._change(card_number, "expire")

    def cancel(self, card_number: str) -> dict[str, object]:
        """GatePay cancels the card: CANCELLED."""
        return self._change(card_number, "cancel")

    def set_status(self, card_number: str, status: GiftCardStatus | int | str) -> dict[str, object]:
        """Any status (a GiftCardStatus, a code 0-8 or a name), nothing else changed."""
        return self._change(card_number, "set_status", status=parse_status(status))

    def card_state(self, card_number: str) -> dict[str, object]:
        """The card as the admin endpoints show it (status now; never the key)."""
        card = self.store.get_by_number(card_number)
        if card is None:
            raise _lifecycle.CardNotFound(f"no card {card_number!r} in this sandbox")
        return _lifecycle.card_state(card, self._status_now(card))

    def script_new_cards(
        self,
        outcome: str | GiftCardStatus,
        *,
        share: float | str = 1,
        after: float | None = None,
        times: int | None = None,
    ) -> str:
        """Give new cards a scripted path; returns the rule's spec.

        ``script_new_cards("payment_failed:10%:after=2s")`` (the spec language of
        :func:`parse_script`) or ``script_new_cards("payment_failed", share=0.1,
        after=2)`` (``share`` also as ``"10%"``): 1 new card in 10 fails payment 2 s
        after creation.
        """
        if isinstance(outcome, str) and any(c in outcome for c in ":>@"):
            if (share, after, times) != (1, None, None):
                raise ValueError("give either a spec or share/after/times, not both")
            spec = outcome
        else:
            spec = parse_status(outcome).name.lower()
            if after is not None:
                spec += f":after={after}s"
            if isinstance(share, str) and share.strip().endswith("%"):
                spec += f":{share.strip()}"
            elif share != 1:
                spec += f":{float(share) * 100:g}%"
            if times is not None:
                spec += f":times={times}"
        rule = parse_script(spec)
        self._scripts.add(rule)
        return rule.spec

    def clear_scripts(self) -> None:
        """New cards follow the default path again (scripted cards keep their timelines)."""
        self._scripts.clear()

    @property
    def scripts(self) -> list[str]:
        """The active script rules' specs."""
        return self._scripts.specs

    def _status_now(self, card: Card) -> GiftCardStatus:
        return status_at(card, int(self.now() * 1000), self.config.pending_seconds)

    def _change(
        self,
        card_number: str,
        action: str,
        *,
        uid: int | None = None,
        status: GiftCardStatus | None = None,
    ) -> dict[str, object]:
        # One lock: two helpers on one card (test thread and admin endpoint) do not
        # read the same old card and overwrite each other's change.
        with self._lifecycle_lock:
            card = self.store.get_by_number(card_number)
            if card is None:
                raise _lifecycle.CardNotFound(f"no card {card_number!r} in this sandbox")
            now_ms = int(self.now() * 1000)
            current = status_at(card, now_ms, self.config.pending_seconds)
            changed = _lifecycle.apply(action, card, current, now_ms, uid=uid, status=status)
            self.store.replace(changed)
            return _lifecycle.card_state(changed, status_at(changed, now_ms, 0))

    def now(self) -> float:
        """The sandbox clock (seconds since the epoch), ``config.clock_offset`` included."""
        return time.time() + self.config.clock_offset

    def close(self) -> None:
        """Close the store (a SQLite file stays on disk)."""
        self.store.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- serving ---------------------------------------------------------------------

    async def handle(
        self, operation: str, api: str, method: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Serve one gift-card request (the route has already been matched)."""
        self._attempts[operation] += 1
        headers = RequestHeaders(scope["headers"])
        # Only nonces of a valid length are kept: a flood of huge ones must not grow memory.
        if headers.nonce is not None and len(headers.nonce) <= MAX_NONCE:
            self._nonces.append(headers.nonce)
        selection = self._faults.take(operation) if self._faults else NO_FAULT
        # The timestamp is checked against the arrival time; Date and the answer's own
        # timestamp carry the time the answer leaves, after any latency.
        received = self.now() + selection.offset
        delay = self.config.latency + selection.latency
        if delay > 0:
            await anyio.sleep(delay)
        now = self.now() + selection.offset if delay > 0 else received
        action = selection.action
        kind = None if action is None else action.kind
        if action is not None and action.kind in PRE_PROCESSING_KINDS:
            await self._answer_unprocessed(action, send, now)
            return

        body = await _read_body(receive, self.config.max_body_bytes)
        status = 200
        try:
            data = self._process(operation, api, method, headers, body, scope, received)
        except Rejection as rejection:
            status = rejection.http_status
            envelope = fail_envelope(rejection.code, rejection.label, rejection.message)
        else:
            if kind == "data_as_string":
                data = dumps(data).decode("utf-8")
            envelope = success_envelope(data)
        payload = dumps(envelope)
        if kind == "drop_after":
            await drop_connection(send, payload)
        if kind == "malformed_json":
            payload = payload[: len(payload) // 2]
        await send_response(
            send,
            status=status,
            body=payload,
            content_type=_TEXT if kind == "wrong_content_type" else JSON,
            secret=self.config.secret_key,
            now=now,
        )

    def _process(
        self,
        operation: str,
        api: str,
        method: str,
        headers: RequestHeaders,
        body: bytes | None,
        scope: Scope,
        now: float,
    ) -> object:
        config = self.config
        if method == "POST":
            check_content_type(headers.content_type)
        if body is None:
            raise Rejection.invalid(f"body: must be at most {config.max_body_bytes} bytes")
        authenticate(
            headers,
            body,
            client_id=config.client_id,
            secret=config.secret_key,
            now=now,
            window=config.timestamp_window,
            replay=self._replay,
        )
        on_behalf_of = ""
        if api == INSTITUTION:
            on_behalf_of = (headers.on_behalf_of or "").strip()
            if not on_behalf_of:
                raise Rejection.invalid(
                    "X-GatePay-On-Behalf-Of: header is required for institution APIs"
                )
            if len(on_behalf_of) > MAX_ON_BEHALF_OF:
                raise Rejection.invalid(
                    f"X-GatePay-On-Behalf-Of: must be at most {MAX_ON_BEHALF_OF} characters"
                )
        return self._operations.run(
            operation, api, on_behalf_of, body, scope.get("query_string", b""), now
        )

    async def _answer_unprocessed(self, fault: Fault, send: Send, now: float) -> None:
        secret = self.config.secret_key
        if fault.kind == "drop_before":
            await drop_connection(send, _DROP_BEFORE_BODY)
        elif fault.kind == "status":
            status = fault.status or 503
            body = dumps(
                fail_envelope(
                    http_status_code(status),
                    http_phrase(status),
                    f"sandbox fault: injected HTTP {status}",
                )
            )
            await send_response(
                send,
                status=status,
                body=body,
                content_type=JSON,
                secret=secret,
                now=now,
                extra_headers=_retry_after(fault.retry_after),
            )
        elif fault.kind == "html_error":
            status = fault.status or 502
            html = _HTML_ERROR.format(status=status, phrase=http_phrase(status)).encode("utf-8")
            await send_response(
                send,
                status=status,
                body=html,
                content_type=_HTML,
                secret=secret,
                now=now,
                extra_headers=_retry_after(fault.retry_after),
            )
        else:  # reject_timestamp
            window = self.config.timestamp_window
            body = dumps(
                fail_envelope(
                    CODE_BAD_TIMESTAMP,
                    "Invalid timestamp",
                    f"X-GatePay-Timestamp: more than {window:g} seconds away from server time "
                    f"{int(now * 1000)}",
                )
            )
            await send_response(
                send, status=401, body=body, content_type=JSON, secret=secret, now=now
            )

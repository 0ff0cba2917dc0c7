"""What the ``gatepay_sandbox`` pytest fixture hands a test: a served sandbox and its helpers."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from gatepay_async._models import GiftCardStatus
from gatepay_async.sandbox._config import DEFAULT_CLIENT_ID, SandboxConfig, client_env
from gatepay_async.sandbox._faults import Fault, parse_fault
from gatepay_async.sandbox._sandbox import Sandbox
from gatepay_async.sandbox._server import SandboxServer

if TYPE_CHECKING:
    from gatepay_async import AsyncGatePay
    from gatepay_sync import GatePay

__all__ = ["GatePaySandbox", "fixture_config"]


def fixture_config(**overrides: Any) -> SandboxConfig:
    """A test's sandbox configuration: fresh credentials, no pending period unless asked.

    ``pending_seconds`` is 0 so a card can be redeemed or gifted as soon as it is issued
    (the create answer still says pending payment, as GatePay's does).
    """
    fields: dict[str, Any] = {
        "client_id": DEFAULT_CLIENT_ID,
        "secret_key": "sandbox-" + secrets.token_hex(16),
        "pending_seconds": 0.0,
    }
    fields.update(overrides)
    return SandboxConfig(**fields)


class GatePaySandbox:
    """A sandbox served on 127.0.0.1 for one test, with ready clients and test helpers.

    ``base_url``, ``client_id``, ``secret_key``: what a GatePay client needs.
    ``client()`` / ``async_client()``: ready-configured ``GatePay`` / ``AsyncGatePay``.
    ``inject("create:status=503,times=1")``, ``clear_faults()``, ``attempts("create")``:
    fault injection and what reached the sandbox.
    ``redeem``, ``gift``, ``freeze``, ``expire``, ``cancel``, ``set_status``,
    ``script_new_cards``: the card holder's and GatePay's side of a card's life, visible
    to the merchant only through query and balance.
    ``admin_token``: what the ``/_sandbox/*`` endpoints require.
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.sandbox = Sandbox(fixture_config() if config is None else config)
        self._server = SandboxServer(self.sandbox)
        self._clients: list[GatePay] = []

    # -- lifetime ----------------------------------------------------------------------

    def start(self) -> GatePaySandbox:
        self._server.start()
        return self

    def stop(self) -> None:
        """Close the clients made by ``client()``, stop serving, close the sandbox."""
        for client in self._clients:
            client.close()
        self._clients.clear()
        self._server.stop()
        self.sandbox.close()

    def __enter__(self) -> GatePaySandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- connection ----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self._server.url

    @property
    def client_id(self) -> str:
        return self.sandbox.config.client_id

    @property
    def secret_key(self) -> str:
        return self.sandbox.config.secret_key

    @property
    def admin_token(self) -> str:
        return self.sandbox.admin_token

    @property
    def env(self) -> dict[str, str]:
        """``GATEPAY_BASE_URL``, ``GATEPAY_CLIENT_ID``, ``GATEPAY_SECRET_KEY`` for this sandbox
        (``monkeypatch.setenv`` them for code that builds its own client)."""
        return client_env(self.base_url, self.sandbox.config)

    def _client_arguments(self, overrides: dict[str, Any]) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "client_id": self.client_id,
            "secret_key": self.secret_key,
            "base_url": self.base_url,
            "timeout": 10.0,
        }
        arguments.update(overrides)
        return arguments

    def client(self, **overrides: Any) -> GatePay:
        """A ``GatePay`` for this sandbox (closed at the end of the test); ``overrides``
        are GatePay arguments such as ``max_retries`` or ``on_behalf_of``."""
        from gatepay_sync import GatePay

        client = GatePay(**self._client_arguments(overrides))
        self._clients.append(client)
        return client

    def async_client(self, **overrides: Any) -> AsyncGatePay:
        """An ``AsyncGatePay`` for this sandbox; use it in ``async with``."""
        from gatepay_async import AsyncGatePay

        return AsyncGatePay(**self._client_arguments(overrides))

    # -- faults ----------------------------------------------------------------------------

    def inject(self, fault: Fault | str) -> Fault:
        """Activate a fault: a :class:`Fault` or a spec such as ``"query:status=503,times=2"``."""
        parsed = parse_fault(fault) if isinstance(fault, str) else fault
        self.sandbox.inject(parsed)
        return parsed

    def clear_faults(self) -> None:
        self.sandbox.clear_faults()

    def attempts(self, operation: str = "*") -> int:
        """Requests for ``operation`` (create, query, balance, templates, ``*``) so far."""
        return self.sandbox.attempts(operation)

    # -- the card's life -------------------------------------------------------------------

    def redeem(self, card_number: str, *, uid: int | None = None) -> dict[str, object]:
        return self.sandbox.redeem(card_number, uid=uid)

    def gift(self, card_number: str, to_uid: int) -> dict[str, object]:
        return self.sandbox.gift(card_number, to_uid)

    def freeze(self, card_number: str) -> dict[str, object]:
        return self.sandbox.freeze(card_number)

    def expire(self, card_number: str) -> dict[str, object]:
        return self.sandbox.expire(card_number)

    def cancel(self, card_number: str) -> dict[str, object]:
        return self.sandbox.cancel(card_number)

    def set_status(self, card_number: str, status: GiftCardStatus | int | str) -> dict[str, object]:
        return self.sandbox.set_status(card_number, status)

    def card_state(self, card_number: str) -> dict[str, object]:
        return self.sandbox.card_state(card_number)

    def script_new_cards(self, outcome: str | GiftCardStatus, **options: Any) -> str:
        return self.sandbox.script_new_cards(outcome, **options)

    def clear_scripts(self) -> None:
        self.sandbox.clear_scripts()

    def __repr__(self) -> str:
        url = self._server.url if self._server.port is not None else "not running"
        return f"<GatePaySandbox {url}>"

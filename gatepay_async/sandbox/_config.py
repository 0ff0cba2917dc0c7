"""The sandbox's configuration: one frozen attrs class."""

from __future__ import annotations

import os
from collections.abc import Iterable

import attrs

from gatepay_async._http.config import ENV_BASE_URL, ENV_CLIENT_ID, ENV_SECRET_KEY
from gatepay_async.sandbox._faults import Fault
from gatepay_async.sandbox._scripts import ScriptRule

__all__ = [
    "DEFAULT_BALANCES",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CURRENCIES",
    "DEFAULT_SECRET_KEY",
    "SandboxConfig",
    "client_env",
]

DEFAULT_CLIENT_ID = "sandbox-client"
DEFAULT_SECRET_KEY = "sandbox-secret"  # noqa: S105 - the sandbox's published default

#: Currencies a card may be issued in unless the configuration says otherwise.
DEFAULT_CURRENCIES: frozenset[str] = frozenset({"USDT", "USD", "EUR", "BTC", "ETH", "GT"})

#: The merchant's per-currency balances answered by ``GET /v1/pay/balance`` without parameters.
DEFAULT_BALANCES: tuple[tuple[str, str], ...] = (
    ("USDT", "1000000.00"),
    ("USD", "250000.00"),
    ("EUR", "250000.00"),
    ("BTC", "12.5"),
    ("ETH", "300"),
    ("GT", "50000"),
)


def _to_frozenset(values: Iterable[str]) -> frozenset[str]:
    return frozenset(values)


def _to_balances(values: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((str(currency), str(amount)) for currency, amount in values)


def _to_faults(values: Iterable[Fault]) -> tuple[Fault, ...]:
    return tuple(values)


def _to_scripts(values: Iterable[ScriptRule]) -> tuple[ScriptRule, ...]:
    return tuple(values)


def _admin_token(instance: object, attribute: attrs.Attribute[str | None], value: object) -> None:
    if value is not None and (not isinstance(value, str) or not 16 <= len(value) <= 256):
        raise ValueError("admin_token must be a string of 16-256 characters, or None")


def _to_path(value: str | os.PathLike[str] | None) -> str | None:
    return None if value is None else os.fspath(value)


def _non_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value >= 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


def _non_empty(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{attribute.name} must be a non-empty string")


@attrs.frozen
class SandboxConfig:
    """How the sandbox behaves. Immutable; build a new one to change anything.

    ``pending_seconds``: a new card has status 1 (pending payment) in the create answer
    and on reads until this many seconds have passed, then 2 (not redeemed).
    ``clock_offset``: the sandbox clock runs this many seconds ahead of the machine's
    (negative: behind); it drives the ``Date`` header and the timestamp check.
    ``latency``: seconds slept before answering every gift-card request.
    ``db_path``: a SQLite file that keeps the cards across restarts; ``None`` keeps
    them in memory.
    ``faults``: faults active from the start (see :class:`Fault`).
    ``scripts``: scripted outcomes for new cards, active from the start (see
    :func:`parse_script`).
    ``admin_token``: what the ``/_sandbox/*`` endpoints require as
    ``Authorization: Bearer <token>``; ``None`` draws a random one per Sandbox.
    """

    client_id: str = attrs.field(default=DEFAULT_CLIENT_ID, validator=_non_empty)
    secret_key: str = attrs.field(default=DEFAULT_SECRET_KEY, validator=_non_empty, repr=False)
    pending_seconds: float = attrs.field(default=1.0, converter=float, validator=_non_negative)
    clock_offset: float = attrs.field(default=0.0, converter=float)
    latency: float = attrs.field(default=0.0, converter=float, validator=_non_negative)
    db_path: str | None = attrs.field(default=None, converter=_to_path)
    currencies: frozenset[str] = attrs.field(default=DEFAULT_CURRENCIES, converter=_to_frozenset)
    balances: tuple[tuple[str, str], ...] = attrs.field(
        default=DEFAULT_BALANCES, converter=_to_balances
    )
    creator: int = 10002
    creator_name: str = "GateUser-sandbox"
    timestamp_window: float = attrs.field(default=10.0, converter=float, validator=_non_negative)
    max_body_bytes: int = 65536
    faults: tuple[Fault, ...] = attrs.field(default=(), converter=_to_faults)
    scripts: tuple[ScriptRule, ...] = attrs.field(default=(), converter=_to_scripts)
    admin_token: str | None = attrs.field(default=None, validator=_admin_token, repr=False)


def client_env(base_url: str, config: SandboxConfig) -> dict[str, str]:
    """The variables that point a GatePay client, and the ``gatepay`` command, at a
    sandbox serving ``config`` on ``base_url``."""
    return {
        ENV_BASE_URL: base_url,
        ENV_CLIENT_ID: config.client_id,
        ENV_SECRET_KEY: config.secret_key,
    }

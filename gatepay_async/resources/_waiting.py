"""Argument checks of ``wait_for_status``, shared by both facades."""

from __future__ import annotations

from collections.abc import Iterable

from gatepay_async._errors import ValidationError
from gatepay_async._models import GiftCardStatus
from gatepay_async._secrets.redact import mask_secret
from gatepay_async._secrets.secret import Secret, reveal

__all__ = ["MAX_POLL_INTERVAL", "describe_lookup", "wait_plan"]

#: The wait between polls grows 1.5x per poll up to this (or the interval, if larger).
MAX_POLL_INTERVAL = 30.0
GROWTH = 1.5


def _status(value: object) -> GiftCardStatus:
    if isinstance(value, GiftCardStatus):
        return value
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        status = GiftCardStatus.parse(value)
        if status is not GiftCardStatus.UNKNOWN or value in (0, "0", "UNKNOWN", "unknown"):
            return status
    raise ValidationError("statuses", f"{value!r} is not a gift card status")


def _seconds(value: object, argument: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValidationError(argument, f"must be a number of seconds > 0, got {value!r}")
    return float(value)


def wait_plan(
    statuses: Iterable[GiftCardStatus | int | str] | GiftCardStatus,
    *,
    timeout: object,
    interval: object,
) -> tuple[tuple[GiftCardStatus, ...], float]:
    """The wanted statuses (checked, de-duplicated) and the longest wait between polls."""
    single = isinstance(statuses, (GiftCardStatus, str, int))
    items: Iterable[object] = (statuses,) if single else statuses  # type: ignore[assignment]
    wanted = tuple(dict.fromkeys(_status(item) for item in items))
    if not wanted:
        raise ValidationError("statuses", "name at least one status to wait for")
    _seconds(timeout, "timeout")
    poll = _seconds(interval, "interval")
    return wanted, max(poll, MAX_POLL_INTERVAL)


def describe_lookup(field: str, value: str | Secret) -> str:
    """``card 1234`` or ``card with key abcd…`` (a key is a secret: masked)."""
    if field == "key":
        return f"card with key {mask_secret(reveal(value))}"
    return f"card {value}"

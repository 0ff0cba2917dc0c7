"""Fault injection: what a fault is, the spec language, and the set of active faults."""

from __future__ import annotations

import math
import threading

import attrs

__all__ = [
    "ACTION_KINDS",
    "KINDS",
    "MODIFIER_KINDS",
    "NO_FAULT",
    "OPERATIONS",
    "PRE_PROCESSING_KINDS",
    "Fault",
    "FaultSet",
    "Selection",
    "parse_fault",
]

#: Operation names used by faults and ``Sandbox.attempts()``; ``"*"`` matches all.
OPERATIONS: tuple[str, ...] = ("create", "query", "balance", "templates", "*")

#: Faults that change how a request is served but not what is answered.
MODIFIER_KINDS: frozenset[str] = frozenset({"latency", "clock_offset"})
#: Faults that answer without processing the request.
PRE_PROCESSING_KINDS: frozenset[str] = frozenset(
    {"status", "drop_before", "html_error", "reject_timestamp"}
)
#: Faults that process the request and then spoil the answer.
POST_PROCESSING_KINDS: frozenset[str] = frozenset(
    {"drop_after", "malformed_json", "wrong_content_type", "data_as_string"}
)
ACTION_KINDS: frozenset[str] = PRE_PROCESSING_KINDS | POST_PROCESSING_KINDS
KINDS: tuple[str, ...] = (
    "latency",
    "status",
    "drop_before",
    "drop_after",
    "malformed_json",
    "html_error",
    "wrong_content_type",
    "data_as_string",
    "reject_timestamp",
    "clock_offset",
)

_STATUS_KINDS = frozenset({"status", "html_error"})


def _check_kind(instance: Fault, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in KINDS:
        raise ValueError(f"unknown fault kind {value!r}; expected one of {', '.join(KINDS)}")


def _check_operation(instance: Fault, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in OPERATIONS:
        raise ValueError(
            f"unknown fault operation {value!r}; expected one of {', '.join(OPERATIONS)}"
        )


def _check_times(
    instance: Fault, attribute: attrs.Attribute[int | None], value: int | None
) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"fault times must be a positive integer or None, got {value!r}")


def _finite(name: str, value: float | None, *, minimum: float | None = None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"fault {name} must be a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"fault {name} must be >= {minimum:g}, got {value!r}")


@attrs.frozen
class Fault:
    """One injected misbehaviour.

    ``kind``: one of :data:`KINDS`. ``operation``: ``create``, ``query``, ``balance``,
    ``templates`` or ``*`` (all). ``times``: how many matching requests it hits, ``None``
    for every one until cleared. ``status`` (kinds ``status``, required, and
    ``html_error``, default 502), ``retry_after`` (seconds, sent as ``Retry-After`` by
    those two), ``latency`` (seconds slept before answering: required for kind
    ``latency``, an extra delay for any other kind), ``offset`` (seconds the sandbox clock
    runs ahead, required for kind ``clock_offset``).
    """

    kind: str = attrs.field(validator=_check_kind)
    operation: str = attrs.field(default="*", validator=_check_operation)
    times: int | None = attrs.field(default=None, validator=_check_times)
    status: int | None = None
    retry_after: float | None = None
    latency: float | None = None
    offset: float | None = None

    def __attrs_post_init__(self) -> None:
        if self.status is not None:
            if self.kind not in _STATUS_KINDS:
                raise ValueError("fault status applies only to kinds status and html_error")
            if (
                isinstance(self.status, bool)
                or not isinstance(self.status, int)
                or not 400 <= self.status <= 599
            ):
                raise ValueError(
                    f"fault status must be an HTTP status 400-599, got {self.status!r}"
                )
        elif self.kind == "status":
            raise ValueError("a status fault needs status, e.g. 'create:status=503'")
        if self.retry_after is not None and self.kind not in _STATUS_KINDS:
            raise ValueError("fault retry_after applies only to kinds status and html_error")
        _finite("retry_after", self.retry_after, minimum=0)
        _finite("latency", self.latency, minimum=0)
        _finite("offset", self.offset)
        if self.kind == "latency" and self.latency is None:
            raise ValueError("a latency fault needs latency, e.g. '*:latency=0.05'")
        if self.offset is not None and self.kind != "clock_offset":
            raise ValueError("fault offset applies only to kind clock_offset")
        if self.kind == "clock_offset" and self.offset is None:
            raise ValueError("a clock_offset fault needs offset, e.g. '*:clock_offset=30'")

    @property
    def spec(self) -> str:
        """This fault in the spec language: ``parse_fault(fault.spec) == fault``."""
        if self.kind == "status":
            head = f"status={self.status}"
        elif self.kind == "latency":
            head = f"latency={_num(self.latency)}"
        elif self.kind == "clock_offset":
            head = f"clock_offset={_num(self.offset)}"
        else:
            head = self.kind
        parts = [head]
        if self.kind == "html_error" and self.status is not None:
            parts.append(f"status={self.status}")
        if self.retry_after is not None:
            parts.append(f"retry_after={_num(self.retry_after)}")
        if self.kind != "latency" and self.latency is not None:
            parts.append(f"latency={_num(self.latency)}")
        if self.times is not None:
            parts.append(f"times={self.times}")
        return f"{self.operation}:{','.join(parts)}"


def _num(value: float | None) -> str:
    """A number as the spec language writes it: ``1`` rather than ``1.0``; exact otherwise."""
    if value is not None and float(value).is_integer():
        return str(int(value))
    return repr(value)


_HEAD_VALUE_FIELD = {"status": "status", "latency": "latency", "clock_offset": "offset"}
_INT_KEYS = frozenset({"times", "status"})
_FLOAT_KEYS = frozenset({"retry_after", "latency", "offset"})


def _number(spec: str, key: str, text: str) -> int | float:
    try:
        if key in _INT_KEYS:
            return int(text)
        number = float(text)
    except ValueError:
        kind = "an integer" if key in _INT_KEYS else "a number"
        raise ValueError(f"bad fault spec {spec!r}: {key} must be {kind}, got {text!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"bad fault spec {spec!r}: {key} must be finite, got {text!r}")
    return number


def parse_fault(spec: str) -> Fault:
    """Parse ``OPERATION:KIND[=VALUE][,KEY=VALUE...]`` into a :class:`Fault`.

    Examples: ``create:status=503,retry_after=1,times=2``, ``*:latency=0.05``,
    ``query:drop_before,times=1``, ``*:clock_offset=30``. Keys: ``times``, ``status``,
    ``retry_after``, ``latency``, ``offset``. Raises ValueError saying what is wrong.
    """
    if not isinstance(spec, str):
        raise ValueError(f"a fault spec must be a string, got {type(spec).__name__}")
    operation, sep, rest = spec.strip().partition(":")
    operation = operation.strip()
    if not sep or not operation or not rest.strip():
        raise ValueError(
            f"bad fault spec {spec!r}: expected OPERATION:KIND[,KEY=VALUE...], "
            "e.g. 'create:status=503,times=2'"
        )
    items = [item.strip() for item in rest.split(",")]
    if any(not item for item in items):
        raise ValueError(f"bad fault spec {spec!r}: empty item between commas")
    kind, has_value, head_value = items[0].partition("=")
    kind = kind.strip()
    if kind not in KINDS:
        raise ValueError(
            f"bad fault spec {spec!r}: unknown kind {kind!r}; expected one of {', '.join(KINDS)}"
        )
    values: dict[str, int | float] = {}
    if has_value:
        field = _HEAD_VALUE_FIELD.get(kind)
        if field is None:
            raise ValueError(f"bad fault spec {spec!r}: kind {kind} takes no value")
        values[field] = _number(spec, field, head_value.strip())
    for item in items[1:]:
        key, eq, text = item.partition("=")
        key = key.strip()
        if not eq:
            raise ValueError(f"bad fault spec {spec!r}: expected KEY=VALUE, got {item!r}")
        if key not in _INT_KEYS and key not in _FLOAT_KEYS:
            raise ValueError(
                f"bad fault spec {spec!r}: unknown key {key!r}; "
                "expected times, status, retry_after, latency or offset"
            )
        if key in values:
            raise ValueError(f"bad fault spec {spec!r}: {key} given twice")
        values[key] = _number(spec, key, text.strip())
    try:
        return Fault(
            kind=kind,
            operation=operation,
            times=_as_int(values.get("times")),
            status=_as_int(values.get("status")),
            retry_after=values.get("retry_after"),
            latency=values.get("latency"),
            offset=values.get("offset"),
        )
    except ValueError as exc:
        raise ValueError(f"bad fault spec {spec!r}: {exc}") from None


def _as_int(value: int | float | None) -> int | None:
    return None if value is None else int(value)


@attrs.frozen
class Selection:
    """What the active faults do to one request."""

    latency: float = 0.0
    offset: float = 0.0
    action: Fault | None = None


NO_FAULT = Selection()


@attrs.define
class _Active:
    fault: Fault
    remaining: int | None


class FaultSet:
    """The active faults, safe to change from another thread while requests are served.

    For each request, every matching modifier fault (latency, clock_offset) applies and
    the first matching action fault, in injection order, decides the answer; each fault
    that applied uses up one of its ``times``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: list[_Active] = []

    def __bool__(self) -> bool:
        return bool(self._active)

    def add(self, fault: Fault) -> None:
        if not isinstance(fault, Fault):
            raise TypeError(f"expected a Fault, got {type(fault).__name__}")
        with self._lock:
            self._active.append(_Active(fault, fault.times))

    def clear(self) -> None:
        with self._lock:
            self._active.clear()

    def snapshot(self) -> list[Fault]:
        """The active faults, each with ``times`` set to what is left of it."""
        with self._lock:
            return [attrs.evolve(a.fault, times=a.remaining) for a in self._active]

    def take(self, operation: str) -> Selection:
        """Select the faults that hit one request for ``operation`` and use them up."""
        latency = 0.0
        offset = 0.0
        action: Fault | None = None
        with self._lock:
            spent = False
            for active in self._active:
                fault = active.fault
                if fault.operation != "*" and fault.operation != operation:
                    continue
                if fault.kind in ACTION_KINDS:
                    if action is not None:
                        continue
                    action = fault
                latency += fault.latency or 0.0
                offset += fault.offset or 0.0
                if active.remaining is not None:
                    active.remaining -= 1
                    spent = spent or active.remaining <= 0
            if spent:
                self._active = [a for a in self._active if a.remaining is None or a.remaining > 0]
        if action is None and latency == 0.0 and offset == 0.0:
            return NO_FAULT
        return Selection(latency=latency, offset=offset, action=action)

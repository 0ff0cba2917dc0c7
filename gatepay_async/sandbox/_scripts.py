"""Scripted outcomes for new cards: "10% of new cards fail payment after 2 s".

A script rule gives some new cards a timeline of statuses instead of the default
(pending payment, then not redeemed), so a merchant's polling code meets every path.

Spec language (``parse_script``)::

    STEPS[:PERCENT%][:after=SECONDS][:times=N]

    payment_failed:10%:after=2s          1 card in 10 fails payment 2 s after creation
    manual_review@1s>not_redeemed@3s     every card: review at 1 s, then paid at 3 s
    review_rejected:times=1              the next card only

``STEPS`` is one or more statuses (names of :class:`GiftCardStatus`, any case, or codes
0-8) joined by ``>``, each with an optional ``@SECONDS`` (after creation); ``after=``
sets the first step's time. A first step without a time happens when the sandbox's
pending period ends. Selection is deterministic, so a test sees the same cards picked
on every run: a rule with share p picks the 1st card it is offered, then each card that
brings the count of picked cards up to ceil(n * p) (10%: the 1st, 11th, 21st...).
Rules are offered each new card in the order they were added; the first that picks it wins.
"""

from __future__ import annotations

import math
import threading
from fractions import Fraction

import attrs

from gatepay_async._models import GiftCardStatus

__all__ = ["NewCardScripts", "ScriptRule", "parse_script", "parse_status"]


def parse_status(value: object) -> GiftCardStatus:
    """A status from a GiftCardStatus, a code 0-8, or a name in any case; else ValueError."""
    if isinstance(value, GiftCardStatus):
        return value
    if isinstance(value, bool):
        raise ValueError(f"unknown status {value!r}")
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        code = int(value)
        for member in GiftCardStatus:
            if member.value == code:
                return member
    elif isinstance(value, str):
        name = value.strip().upper().replace("-", "_").replace(" ", "_")
        if name in GiftCardStatus.__members__:
            return GiftCardStatus[name]
    names = ", ".join(m.name.lower() for m in GiftCardStatus)
    raise ValueError(f"unknown status {value!r}; expected a code 0-8 or one of {names}")


def _seconds(text: str, spec: str) -> float:
    value = text.strip().removesuffix("s")
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"script {spec!r}: {text!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"script {spec!r}: seconds must be finite and >= 0, got {text!r}")
    return seconds


@attrs.frozen
class ScriptRule:
    """Which new cards get which timeline.

    ``steps``: ``(seconds after creation or None, status)`` in order; ``None`` means
    "when the pending period ends". ``share``: the fraction of offered cards it picks
    (0 < share <= 1). ``times``: how many cards it picks at most (``None``: no limit).
    """

    steps: tuple[tuple[float | None, GiftCardStatus], ...]
    share: Fraction = Fraction(1)
    times: int | None = None
    spec: str = ""

    def __attrs_post_init__(self) -> None:
        if not self.steps:
            raise ValueError("a script needs at least one status step")
        if not 0 < self.share <= 1:
            raise ValueError(f"script share must be in (0, 100%], got {self.share}")
        if self.times is not None and self.times < 1:
            raise ValueError(f"script times must be >= 1, got {self.times}")

    def timeline(self, pending_seconds: float) -> tuple[tuple[int, str], ...]:
        """The steps as a card stores them: (ms after creation, status name), in order."""
        out: list[tuple[int, str]] = []
        last = 0
        for seconds, status in self.steps:
            at = int((pending_seconds if seconds is None else seconds) * 1000)
            last = max(last, at)  # a step never happens before the one it follows
            out.append((last, status.name))
        return tuple(out)


def parse_script(spec: str) -> ScriptRule:
    """Parse the spec language above into a :class:`ScriptRule` (ValueError names the spec)."""
    parts = [part.strip() for part in spec.split(":")]
    if not parts[0]:
        raise ValueError(f"script {spec!r}: expected STATUS[@SECONDS][>STATUS...][:N%]...")
    steps: list[tuple[float | None, GiftCardStatus]] = []
    for step in parts[0].split(">"):
        name, _, at = step.partition("@")
        steps.append((_seconds(at, spec) if at else None, parse_status(name)))
    share = Fraction(1)
    times: int | None = None
    for part in parts[1:]:
        if part.endswith("%"):
            try:
                share = Fraction(part[:-1].strip()) / 100
            except (ValueError, ZeroDivisionError):
                raise ValueError(f"script {spec!r}: bad percentage {part!r}") from None
        elif part.startswith("after="):
            steps[0] = (_seconds(part[len("after=") :], spec), steps[0][1])
        elif part.startswith("times="):
            text = part[len("times=") :]
            if not text.isdigit():
                raise ValueError(f"script {spec!r}: times must be a positive integer")
            times = int(text)
        else:
            raise ValueError(f"script {spec!r}: unknown part {part!r}")
    return ScriptRule(steps=tuple(steps), share=share, times=times, spec=spec)


@attrs.define
class _Entry:
    rule: ScriptRule
    offered: int = 0
    picked: int = 0


class NewCardScripts:
    """The active rules and how many cards each has been offered and has picked."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[_Entry] = []

    def add(self, rule: ScriptRule) -> None:
        with self._lock:
            self._entries.append(_Entry(rule))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    @property
    def specs(self) -> list[str]:
        with self._lock:
            return [entry.rule.spec for entry in self._entries]

    def timeline_for_new_card(self, pending_seconds: float) -> tuple[tuple[int, str], ...]:
        """The timeline of the card being created now; ``()`` for the default path."""
        with self._lock:
            for entry in self._entries:
                rule = entry.rule
                if rule.times is not None and entry.picked >= rule.times:
                    continue
                entry.offered += 1
                if entry.picked < math.ceil(entry.offered * rule.share):
                    entry.picked += 1
                    return rule.timeline(pending_seconds)
            return ()

"""What bulk issuance takes and gives: :class:`CardSpec` in, :class:`BulkResult` out.

Shared by both facades (``gatepay_sync`` imports these very classes).
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterable, Iterable
from decimal import Decimal
from typing import TypeAlias

import attrs

from gatepay_async._models import GiftCard

__all__ = ["AsyncSpecs", "BulkResult", "BulkState", "CardSpec", "Specs"]


class BulkState(str, enum.Enum):
    """The outcome of one row. Compares equal to its string value (``"issued"``...)."""

    #: The card exists; ``BulkResult.card`` holds it (number and key).
    ISSUED = "issued"
    #: Definitely not issued: bad input, a request GatePay refused, or never sent.
    #: Safe to send again.
    FAILED = "failed"
    #: A create was sent and its answer was lost: a card may exist. Not resent unless
    #: asked (``retry_unknown=True``); check your GatePay records first.
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value


@attrs.frozen
class CardSpec:
    """One card to issue. ``ref`` is the caller's unique id for the row (a campaign row
    id, an order number): the journal remembers each ref's outcome under it.

    Nothing is checked when a spec is built; ``create_many`` checks each row and fails
    a bad one alone, with an error naming the field.
    """

    ref: str
    title: str
    template_id: str
    currency: str
    amount: Decimal | int | str


@attrs.frozen
class BulkResult:
    """The outcome of one :class:`CardSpec`.

    ``card`` is set when ``state`` is ``issued``; ``error`` says why a row is ``failed``
    or ``unknown``, or that it ``changed`` (secret-free text). ``from_journal`` is True
    when the outcome comes from an earlier run's journal and nothing was sent for it
    now. ``exception`` holds the exception behind ``error`` when there is one from this
    run.
    """

    ref: str
    state: BulkState
    card: GiftCard | None = None
    error: str | None = None
    from_journal: bool = False
    exception: BaseException | None = attrs.field(default=None, eq=False, repr=False)
    #: For a ref the journal holds as issued or unknown: the fields (title, template_id,
    #: currency, amount) in which this row differs from what was sent. Such a row is
    #: never sent again; a run with a changed row is not a clean run.
    changed: tuple[str, ...] = ()

    @property
    def issued(self) -> bool:
        return self.state is BulkState.ISSUED


#: What ``create_many`` takes, as the generated sync code names it: ``AsyncSpecs`` in the
#: async client (which also pulls an async iterable) becomes ``Specs`` in the sync one.
AsyncSpecs: TypeAlias = Iterable[CardSpec] | AsyncIterable[CardSpec]
Specs: TypeAlias = Iterable[CardSpec]

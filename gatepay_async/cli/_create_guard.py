"""``gatepay create`` under SIGINT and SIGTERM: a create in flight is not abandoned lightly.

GatePay cannot deduplicate a create, and its answer is the only place the new card's key
is ever given: a create abandoned in flight may leave a card paid for and lost. So the
first signal waits for the answer (the card is printed, exit 130), and only a second one
abandons the request (exit 3: a card may exist, it was not resent).

A create with an idempotency key is not abandoned even then: its attempt runs to its end
so that its outcome (its card above all) reaches the ledger (``_idempotent``). Each
message then says where the card is and how to get it: the ledger keeps it, and the same
command with the same key and ledger prints it without sending anything.
"""

from __future__ import annotations

import sys
from typing import Any

import anyio
import click

from gatepay_async import AsyncGatePay, GatePayError, GiftCard
from gatepay_async._cli_names import EXIT_UNKNOWN
from gatepay_async._storage.ledger import FAILED, ISSUED
from gatepay_async.cli._signals import SignalCounter

__all__ = ["STOPPING_KEYED", "WAITING", "WAITING_KEYED", "CreateAbandoned", "CreateGuard"]

WAITING = (
    "waiting for the create in flight to finish; press Ctrl-C again to abandon it"
    " (a card may then exist)"
)
#: The same, for a create with an idempotency key (its card reaches the ledger).
WAITING_KEYED = (
    "waiting for the create in flight to finish, to print its card; press Ctrl-C again"
    " to stop waiting for it: the create still runs to its end and the ledger keeps its"
    " card, which the same command with the same --idempotency-key and --ledger prints"
    " without sending anything"
)
STOPPING_KEYED = (
    "stopping: the create in flight still runs to its end (at most the client's timeout),"
    " so that its outcome reaches the ledger"
)
#: How the same key gets its card back, or why it will not be sent again.
_RERUN = "run the same command with the same --idempotency-key and --ledger"


class CreateAbandoned(click.ClickException):
    """A second signal abandoned the create in flight: a card may exist."""

    exit_code = EXIT_UNKNOWN

    def __init__(
        self, title: str, amount: str, currency: str, *, keyed: bool = False, state: str | None
    ) -> None:
        what = f"({amount} {currency}, title {title!r})"
        if not keyed:
            text = (
                f"abandoned the create in flight {what}: a card may exist; it was not resent."
                " Check your GatePay merchant records before issuing this card again."
            )
        elif state == ISSUED:
            text = (
                f"stopped before printing the card of the create {what}: it ran to its end"
                " and issued a card, which the ledger keeps under the idempotency key. To"
                f" print it, {_RERUN}: nothing is sent again."
            )
        elif state == FAILED:
            text = (
                f"stopped the create {what}: it ran to its end and issued no card (GatePay"
                f" refused it, or it was never sent). To issue it, {_RERUN}: it is sent again."
            )
        else:
            text = (
                f"stopped the create {what}: its outcome is unknown, a card may exist; it was"
                f" not resent. If you {_RERUN}, nothing is sent (exit 3) while the ledger"
                " holds it in doubt. Check your GatePay merchant records: only if they show"
                " no card for it, Ledger.release(key) lets the next run send it."
            )
        super().__init__(text)


class CreateGuard(SignalCounter):
    """Runs one create beside a signal watcher; the second signal cancels it."""

    def __init__(self) -> None:
        super().__init__()
        self._scope: anyio.CancelScope | None = None
        self._keyed = False

    def on_signal(self, signum: int) -> None:
        if self.signals == 1:
            _say(WAITING_KEYED if self._keyed else WAITING)
        elif self._scope is not None:
            if self._keyed and not self._scope.cancel_called:
                _say(STOPPING_KEYED)
            self._scope.cancel()

    async def create(self, gp: AsyncGatePay, **fields: Any) -> GiftCard | None:
        """The card; None if a signal came before anything was sent."""
        card: GiftCard | None = None
        error: Exception | None = None
        key: str | None = fields.get("idempotency_key")
        self._keyed = key is not None and gp._idempotency_ledger is not None
        async with anyio.create_task_group() as watchers:
            await watchers.start(self.watch)
            try:
                if self.signals:  # noted before the watcher started: send nothing
                    return None
                with anyio.CancelScope() as scope:
                    self._scope = scope
                    card = await gp.gift_cards.create(**fields)
            except Exception as exc:  # raised outside the group: not an ExceptionGroup
                error = exc
            finally:
                self._scope = None
                watchers.cancel_scope.cancel()
        if error is not None:
            raise error
        if card is None:
            state = _ledger_state(gp, key) if key is not None and self._keyed else None
            raise CreateAbandoned(
                fields["title"],
                fields["amount"],
                fields["currency"],
                keyed=self._keyed,
                state=state,
            )
        return card


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _ledger_state(gp: AsyncGatePay, key: str) -> str | None:
    """Where the stopped create's attempt left ``key`` (its attempt has ended: a keyed
    create runs to its end), or None when the ledger cannot say."""
    ledger = gp._idempotency_ledger
    try:
        return ledger.state(key) if ledger is not None else None
    except GatePayError:  # the ledger cannot be read: the message says it may exist
        return None

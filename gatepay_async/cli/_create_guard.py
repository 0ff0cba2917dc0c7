"""``gatepay create`` under SIGINT and SIGTERM: a create in flight is not abandoned lightly.

GatePay cannot deduplicate a create, and its answer is the only place the new card's key
is ever given: a create abandoned in flight may leave a card paid for and lost. So the
first signal waits for the answer (the card is printed, exit 130), and only a second one
abandons the request (exit 3: a card may exist, it was not resent).
"""

from __future__ import annotations

import sys
from typing import Any

import anyio
import click

from gatepay_async import AsyncGatePay, GiftCard
from gatepay_async._cli_names import EXIT_UNKNOWN
from gatepay_async.cli._signals import SignalCounter

__all__ = ["WAITING", "CreateAbandoned", "CreateGuard"]

WAITING = (
    "waiting for the create in flight to finish; press Ctrl-C again to abandon it"
    " (a card may then exist)"
)


class CreateAbandoned(click.ClickException):
    """A second signal abandoned the create in flight: a card may exist."""

    exit_code = EXIT_UNKNOWN

    def __init__(self, title: str, amount: str, currency: str) -> None:
        super().__init__(
            f"abandoned the create in flight ({amount} {currency}, title {title!r}): a card"
            " may exist; it was not resent. Check your GatePay merchant records before"
            " issuing this card again."
        )


class CreateGuard(SignalCounter):
    """Runs one create beside a signal watcher; the second signal cancels it."""

    def __init__(self) -> None:
        super().__init__()
        self._scope: anyio.CancelScope | None = None

    def on_signal(self, signum: int) -> None:
        if self.signals == 1:
            sys.stderr.write(WAITING + "\n")
            sys.stderr.flush()
        elif self._scope is not None:
            self._scope.cancel()

    async def create(self, gp: AsyncGatePay, **fields: Any) -> GiftCard | None:
        """The card; None if a signal came before anything was sent."""
        card: GiftCard | None = None
        error: Exception | None = None
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
            raise CreateAbandoned(fields["title"], fields["amount"], fields["currency"])
        return card

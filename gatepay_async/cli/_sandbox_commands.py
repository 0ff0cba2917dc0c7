"""``gatepay demo``: a tour against a sandbox started in this process.

(``gatepay sandbox`` is the sandbox's own command, ``gatepay_async.sandbox._command``,
loaded by the group only when used: it needs the ``sandbox`` extra.)
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import click

from gatepay_async import AsyncGatePay, CardSpec, GiftCard, GiftCardStatus
from gatepay_async._cli_names import SANDBOX_PORT, SANDBOX_URL
from gatepay_async.cli._lifecycle_demo import show_lifecycle
from gatepay_async.cli._options import ClientOptions, client_options, enable_debug_logging
from gatepay_async.cli._output import (
    cards_table,
    print_json,
    stdout_console,
    templates_table,
    to_json,
)
from gatepay_async.cli._signals import run_until_interrupted

__all__ = ["COMMANDS"]

SANDBOX_EXTRA = "the sandbox needs the 'sandbox' extra: pip install 'gatepay[cli,sandbox]'"


def _sandbox_module() -> Any:
    try:
        import gatepay_async.sandbox as sandbox
    except ImportError as exc:
        raise click.ClickException(f"{SANDBOX_EXTRA} ({exc.name} is missing)") from None
    return sandbox


def in_spec_order(specs: list[CardSpec], cards: dict[str, GiftCard]) -> list[GiftCard]:
    """The issued cards in the order of their specs (card 2 before card 10), whatever
    order create_many finished them in."""
    return [cards[spec.ref] for spec in specs if spec.ref in cards]


@click.command("demo")
@click.option("--cards", type=click.IntRange(1, 50), default=3, show_default=True)
@client_options
def demo_command(cards: int, options: ClientOptions) -> None:
    """Start a sandbox on 127.0.0.1, issue a few cards and show them. No setup needed.

    The credentials and base URL options are ignored: the demo uses its own sandbox.
    """
    sandbox = _sandbox_module()
    if options.verbose:
        enable_debug_logging()
    config = sandbox.SandboxConfig(pending_seconds=0.5)
    console = stdout_console()
    show = not options.as_json
    report: dict[str, Any] = {}
    with sandbox.SandboxServer(config) as server:
        if show:
            console.print(f"[bold]GatePay sandbox[/] running on {server.url} (in this process)")
        report["sandbox_url"] = server.url

        async def tour() -> None:
            async with AsyncGatePay(
                client_id=config.client_id, secret_key=config.secret_key, base_url=server.url
            ) as gp:
                templates = await gp.gift_cards.list_templates()
                report["templates"] = templates
                template_id = templates[0].template_id
                if show:
                    console.print(templates_table(templates))
                    console.print(
                        f"\nIssuing {cards} cards with create_many (template {template_id})"
                    )
                specs = [
                    CardSpec(
                        ref=f"demo-{number}",
                        title=f"Demo card {number}",
                        template_id=template_id,
                        currency="USDT",
                        amount=Decimal("5") * number,
                    )
                    for number in range(1, cards + 1)
                ]
                async with gp.gift_cards.create_many(specs) as results:
                    done = {r.ref: r.card async for r in results if r.card}
                issued = in_spec_order(specs, done)
                report["issued"] = issued
                if show:
                    console.print(cards_table(issued, show_key=False, title="Issued"))
                    console.print(
                        "\nNew cards are 'pending payment' until GatePay settles the payment"
                        " (the sandbox takes --pending-seconds); waiting with wait_for_status..."
                    )
                shown = [
                    await gp.gift_cards.wait_for_status(
                        card_number=card.card_number,
                        statuses=[GiftCardStatus.NOT_REDEEMED],
                        timeout=10,
                        interval=0.2,
                    )
                    for card in issued
                ]
                report["queried"] = shown
                first = shown[0]
                balance = await gp.gift_cards.balance(card_number=first.card_number)
                report["balance"] = balance
                if show:
                    console.print(cards_table(shown, show_key=False, title="Queried"))
                    console.print(
                        f"\nBalance of {first.card_number}: {balance.amount} {balance.currency}"
                    )
                    console.print()
                    await show_lifecycle(gp, server.sandbox, console, template_id)

        run_until_interrupted(tour)
    if options.as_json:
        print_json({name: to_json(value) for name, value in report.items()})
        return
    from gatepay_async.sandbox._command import export_lines  # the sandbox is imported by now

    click.echo(f"\nNext: run `gatepay sandbox --port {SANDBOX_PORT}` in one shell; in another:")
    click.echo(f"  {export_lines(SANDBOX_URL, sandbox.SandboxConfig())}")
    click.echo("  gatepay templates")


COMMANDS = [demo_command]

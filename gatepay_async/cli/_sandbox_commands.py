"""``gatepay sandbox`` (a local GatePay) and ``gatepay demo`` (a tour against one)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import anyio
import click

from gatepay_async import AsyncGatePay, CardSpec, GiftCardStatus
from gatepay_async.cli._lifecycle_demo import show_lifecycle
from gatepay_async.cli._output import cards_table, stdout_console, templates_table

__all__ = ["COMMANDS"]

SANDBOX_EXTRA = "the sandbox needs the 'sandbox' extra: pip install 'gatepay[cli,sandbox]'"


def _sandbox_module() -> Any:
    try:
        import gatepay_async.sandbox as sandbox
    except ImportError as exc:
        raise click.ClickException(f"{SANDBOX_EXTRA} ({exc.name} is missing)") from None
    return sandbox


@click.command(
    "sandbox",
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
def sandbox_command(arguments: tuple[str, ...]) -> int:
    """Run a local GatePay sandbox (--port, --db FILE, --latency S, --fault SPEC...; -h)."""
    sandbox = _sandbox_module()
    try:
        return int(sandbox.main(list(arguments)))
    except SystemExit as exc:  # argparse: --help exits 0, a bad option exits 2
        code = exc.code if isinstance(exc.code, int) else 1
        return 0 if code == 0 else 1


@click.command("demo")
@click.option("--cards", type=click.IntRange(1, 50), default=3, show_default=True)
def demo_command(cards: int) -> None:
    """Start a sandbox on 127.0.0.1, issue a few cards and show them. No setup needed."""
    sandbox = _sandbox_module()
    config = sandbox.SandboxConfig(pending_seconds=0.5)
    console = stdout_console()
    with sandbox.SandboxServer(config) as server:
        console.print(f"[bold]GatePay sandbox[/] running on {server.url} (in this process)")

        async def tour() -> None:
            async with AsyncGatePay(
                client_id=config.client_id, secret_key=config.secret_key, base_url=server.url
            ) as gp:
                templates = await gp.gift_cards.list_templates()
                console.print(templates_table(templates))
                template_id = templates[0].template_id
                console.print(f"\nIssuing {cards} cards with create_many (template {template_id})")
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
                issued = [r.card async for r in gp.gift_cards.create_many(specs) if r.card]
                issued.sort(key=lambda card: card.title)
                console.print(cards_table(issued, show_key=False, title="Issued"))
                console.print("\nWaiting for the cards to leave 'pending payment'...")
                shown = []
                for card in issued:
                    shown.append(
                        await gp.gift_cards.wait_for_status(
                            card_number=card.card_number,
                            statuses=[GiftCardStatus.NOT_REDEEMED],
                            timeout=10,
                            interval=0.2,
                        )
                    )
                console.print(cards_table(shown, show_key=False, title="Queried"))
                first = shown[0]
                balance = await gp.gift_cards.balance(card_number=first.card_number)
                console.print(
                    f"\nBalance of {first.card_number}: {balance.amount} {balance.currency}"
                )
                console.print()
                await show_lifecycle(gp, server.sandbox, console, template_id)

        anyio.run(tour)
    click.echo("\nNext: run `gatepay sandbox --port 8765` in one shell; in another:")
    click.echo("  export GATEPAY_CLIENT_ID=sandbox-client GATEPAY_SECRET_KEY=sandbox-secret")
    click.echo("  export GATEPAY_BASE_URL=http://127.0.0.1:8765")
    click.echo("  gatepay templates")


COMMANDS = [sandbox_command, demo_command]

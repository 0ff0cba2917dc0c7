"""A bulk campaign with a journal: issue a card per row, exactly once across crashes.

The journal records each row's intent before it is sent and GatePay's answer before it
is read. Run the same command again after a crash or Ctrl-C: issued rows come back from
the journal and are never sent twice; rows whose outcome is unknown are not resent.

    export GATEPAY_BASE_URL=... GATEPAY_CLIENT_ID=... GATEPAY_SECRET_KEY=...
    python examples/bulk_campaign.py [ROWS] [JOURNAL]
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal

from gatepay_async import AsyncGatePay, CardSpec


def campaign_rows(count: int) -> Iterator[CardSpec]:
    """Your rows, each with a unique ref (a database query, a CSV file...): streamed."""
    for n in range(count):
        yield CardSpec(
            ref=f"winter-{n}",
            title="Winter campaign",
            template_id="255267012439183360",
            currency="USDT",
            amount=Decimal("5") + n % 3,
        )


async def run_campaign(count: int, journal: str) -> int:
    states: Counter[str] = Counter()
    from_journal = 0
    async with AsyncGatePay() as gp:
        run = gp.gift_cards.create_many(campaign_rows(count), concurrency=8, journal=journal)
        async with run as results:  # the block owns the run: leaving it stops the run
            async for result in results:  # each result as soon as it is durable
                states[result.state] += 1
                from_journal += result.from_journal
                if result.state != "issued":
                    print(result.ref, result.state, result.error)
    summary = ", ".join(f"{state} {n}" for state, n in sorted(states.items()))
    print(f"{count} rows: {summary}; {from_journal} from the journal, {count - from_journal} sent")
    return 0 if states["issued"] == count else 2


if __name__ == "__main__":
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    journal = sys.argv[2] if len(sys.argv) > 2 else "winter.jsonl"
    raise SystemExit(asyncio.run(run_campaign(rows, journal)))

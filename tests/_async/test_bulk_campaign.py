"""create_many over a database journal (SQLite, PostgreSQL): it resumes as a journal file
does (issued and unknown rows never sent again, failed rows sent again)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatepay_async._bulk_models import BulkState
from gatepay_async._storage.journal_db import DatabaseJournal

from .conftest import mock_client
from .test_bulk import FakeGatePay, first_time, lose_answer, refuse, run, spec, specs


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/journal.db?campaign=spring"
    return str(request.getfixturevalue("postgres_url")) + "?campaign=spring"


@pytest.mark.anyio
async def test_a_database_journal_resumes_like_a_journal_file(journal_url: str) -> None:
    fake = FakeGatePay()
    fake.rules = {"flaky": first_time(refuse), "lost": first_time(lose_answer)}
    rows = [*specs(10), spec("flaky"), spec("lost")]
    async with mock_client(fake.handler, max_retries=0) as gp:
        first = await run(gp, rows, concurrency=4, journal=journal_url)
        assert first["flaky"].state is BulkState.FAILED
        assert first["lost"].state is BulkState.UNKNOWN
        assert first["row-3"].state is BulkState.ISSUED
        second = await run(gp, rows, concurrency=4, journal=journal_url)
    assert fake.attempts("row-3") == 1  # issued: not sent again
    assert fake.attempts("lost") == 1  # unknown: not sent again
    assert fake.attempts("flaky") == 2  # failed: sent again
    assert second["row-3"].from_journal
    assert second["row-3"].card == first["row-3"].card
    assert second["lost"].state is BulkState.UNKNOWN
    assert second["lost"].from_journal
    assert second["flaky"].state is BulkState.ISSUED
    assert not second["flaky"].from_journal


@pytest.mark.anyio
async def test_retry_unknown_sends_a_recorded_unknown_again_once(journal_url: str) -> None:
    fake = FakeGatePay()
    fake.rules = {"lost": first_time(lose_answer)}
    rows = [spec("lost"), spec("fine")]
    async with mock_client(fake.handler, max_retries=0) as gp:
        await run(gp, rows, journal=journal_url)
        again = await run(gp, rows, journal=journal_url, retry_unknown=True)
    assert again["lost"].state is BulkState.ISSUED
    assert fake.attempts("lost") == 2
    assert fake.attempts("fine") == 1


@pytest.mark.anyio
async def test_rows_another_worker_holds_are_neither_sent_nor_reported(journal_url: str) -> None:
    rows = specs(12)
    with DatabaseJournal.open(journal_url, lease=600) as sibling:
        sibling.claim([row.ref for row in rows[:5]])  # a live worker holds the first five
        fake = FakeGatePay()
        async with (
            mock_client(fake.handler) as gp,
            gp.gift_cards.create_many(rows, journal=journal_url) as results,
        ):
            got = {result.ref: result async for result in results}
            elsewhere = results.elsewhere
        assert elsewhere == 5
        assert sorted(got) == sorted(row.ref for row in rows[5:])
        assert sorted(fake.seen) == sorted(row.ref for row in rows[5:])

"""Attack pass, round 3: an adversary's view of what earlier rounds left untested.

Each test plays one attack with real parts (SQLite and PostgreSQL journals and ledgers,
``gatepay bulk-create`` processes stopped and continued with SIGSTOP / SIGCONT, a
PostgreSQL server SIGKILLed mid-campaign, the sandbox under uvicorn, raw loopback
servers) and checks the money rules: no row sent twice, no key lost, a run that stops
does so cleanly. docs/reliability.md ("Attack pass, round 3") lists them.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from gatepay_async import _database
from gatepay_async._journal_db import DatabaseJournal

# ---------------------------------------------------------------------- the database's clock


@pytest.fixture(params=["sqlite", "postgresql"])
def campaign(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/campaign.db?campaign=c1"
    return str(request.getfixturevalue("postgres_url")) + "?campaign=c1"


class DatabaseClock:
    """Steps the database's clock as the journal sees it. Leases and starts are measured
    with ``NOW_MS`` (SQL run by the database): the hook adds an offset kept in a table of
    the same database, so every worker's transaction sees one clock jump at once, as a
    real step of the database host's clock (NTP, a restored VM, a failover) would."""

    def __init__(self, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self._url = url.split("?", 1)[0]
        self._execute("CREATE TABLE IF NOT EXISTS attack_clock (offset_ms BIGINT NOT NULL)")
        self._execute("DELETE FROM attack_clock")
        self._execute("INSERT INTO attack_clock VALUES (0)")
        for dialect, now in dict(_database.NOW_MS).items():
            stepped = f"({now} + (SELECT max(offset_ms) FROM attack_clock))"  # noqa: S608
            monkeypatch.setitem(_database.NOW_MS, dialect, stepped)

    def step(self, seconds: float) -> None:
        offset = int(seconds * 1000)
        self._execute(f"UPDATE attack_clock SET offset_ms = offset_ms + {offset}")  # noqa: S608

    def _execute(self, sql: str) -> None:
        if self._url.startswith("sqlite:///"):
            connection = sqlite3.connect(self._url.removeprefix("sqlite:///"))
            try:
                with connection:
                    connection.execute(sql)
            finally:
                connection.close()
        else:
            with psycopg.connect(self._url) as pg:
                pg.execute(sql)


@pytest.fixture
def clock(campaign: str, monkeypatch: pytest.MonkeyPatch) -> DatabaseClock:
    return DatabaseClock(campaign, monkeypatch)


def test_a_database_clock_stepped_back_never_dates_a_siblings_fresh_unknown_before_a_start(
    campaign: str, clock: DatabaseClock
) -> None:
    """Attack: two workers started by hand run; the database's clock is stepped back an
    hour; one worker's row ends unknown (and another fails). Dated by the stepped clock
    alone, those decisions came "before" the other worker started, so with
    ``retry_unknown`` it took the fresh unknown and sent it again: a second card for a row
    whose first may exist. A decision is now never dated before the start of a worker of
    the campaign."""
    with DatabaseJournal.open(campaign) as first, DatabaseJournal.open(campaign) as second:
        first.claim(["u", "f"])
        clock.step(-3600)
        first.record_unknown("u", "OutcomeUnknownError: answer lost")
        first.record_failed("f", "refused")
        first.flush()
        second.claim(["u", "f"], retry_unknown=True)
        assert second.held_elsewhere("u")  # a running sibling's fresh unknown: never sent
        assert second.held_elsewhere("f")


def test_a_database_clock_stepped_forward_lets_a_lease_run_out_but_never_an_intent(
    campaign: str, clock: DatabaseClock
) -> None:
    """Attack: the database's clock jumps a day ahead while a worker holds claims and has
    sent one row. Its claims run out at once (the lease is measured on that clock) and a
    sibling takes the row not sent; the intent stays the first worker's, and the first
    worker's late intent for the row it lost is refused: each row is sent by one worker."""
    with DatabaseJournal.open(campaign, lease=60) as first:
        first.claim(["sent", "waiting"])
        first.record_intent("sent", _request("sent"))
        first.flush()
        assert first.may_send("sent")
        clock.step(24 * 3600)
        with DatabaseJournal.open(campaign, lease=60) as second:
            second.claim(["sent", "waiting"])
            assert second.held_elsewhere("sent")  # an intent is never released by a lease
            assert not second.held_elsewhere("waiting")  # the claim ran out: taken
            second.record_intent("waiting", _request("waiting"))
            second.flush()
            assert second.may_send("waiting")
            first.record_intent("waiting", _request("waiting"))
            first.flush()
            assert not first.may_send("waiting")  # its claim was taken: not sent here


def _request(title: str) -> object:
    from decimal import Decimal

    from gatepay_async._validation import build_create_request

    return build_create_request(
        title=title, template_id="255267012439183360", currency="USDT", amount=Decimal("1.5")
    )


# ---------------------------------------------------------------------- transports


def test_an_overrun_answer_never_answers_the_next_create_over_aiohttp() -> None:
    """The overrun attack of ``tests/_async/test_attack_transports.py`` against
    ``DefaultAioHttpClient()``: aiohttp drops a connection that holds bytes past an
    answer, so the next create gets its own answer (held before this round; kept so)."""
    import asyncio

    from gatepay_async import DefaultAioHttpClient
    from tests._async.conftest import client_at
    from tests._async.test_attack_transports import REAL, _create, overrun_then_serve
    from tests.raw_server import RawServer

    async def run() -> list[str]:
        async with client_at(server.url, max_retries=0, http_client=DefaultAioHttpClient()) as gp:
            return [(await _create(gp)).card_number for _ in range(2)]

    with RawServer(overrun_then_serve) as server:
        numbers = asyncio.run(run())
    assert numbers == [REAL["card_num"]] * 2
    assert server.sent == 0


def test_a_flood_of_informational_answers_is_cut_at_the_deadline_over_aiohttp() -> None:
    """The 1xx flood of ``tests/_async/test_attack_transports.py`` against
    ``DefaultAioHttpClient()``: the create ends unknown at its deadline, sent once."""
    import asyncio
    import time

    from gatepay_async import DefaultAioHttpClient, OutcomeUnknownError
    from tests._async.conftest import client_at
    from tests._async.test_attack_transports import _create, informational_flood
    from tests.raw_server import RawServer

    async def run() -> float:
        http_client = DefaultAioHttpClient()
        try:
            async with client_at(server.url, timeout=1.0, http_client=http_client) as gp:
                started = time.monotonic()
                with pytest.raises(OutcomeUnknownError):
                    await _create(gp)
                return time.monotonic() - started
        finally:
            await http_client.aclose()

    with RawServer(informational_flood) as server:
        took = asyncio.run(run())
    assert server.hits == 1
    assert took < 1.0 + 0.8, took

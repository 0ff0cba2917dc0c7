"""Attack pass, round 3: an adversary's view of what earlier rounds left untested.

Each test plays one attack with real parts (SQLite and PostgreSQL journals and ledgers,
``gatepay bulk-create`` processes stopped and continued with SIGSTOP / SIGCONT, a
PostgreSQL server SIGKILLed mid-campaign, the sandbox under uvicorn, raw loopback
servers) and checks the money rules: no row sent twice, no key lost, a run that stops
does so cleanly. docs/reliability.md ("Attack pass, round 3") lists them.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from gatepay_async._storage import database as _database
from gatepay_async._storage.journal_db import DatabaseJournal

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

    from gatepay_async._wire.validation import build_create_request

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


# ---------------------------------------------------------------------- workers stopped


STOP_LEASE = 1.0


@pytest.fixture
def slow_sandbox(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A sandbox process whose answers take 0.3 s: a stopped worker has requests in flight."""
    from tests.test_cli import _start_sandbox, _stop_sandbox

    process, url = _start_sandbox(tmp_path / "cards.db", latency=0.3)
    try:
        yield url, tmp_path / "cards.db"
    finally:
        _stop_sandbox(process)


def _campaign_rows(url: str) -> dict[str, tuple[str, str]]:
    """ref -> (state, owner) of the campaign's refs, read by a connection of the test's."""
    sql = "SELECT ref, state, owner FROM gatepay_journal_refs"
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            return {}
        connection = sqlite3.connect(path, timeout=30)
        try:
            rows = connection.execute(sql).fetchall()
        except sqlite3.OperationalError:  # no table yet
            return {}
        finally:
            connection.close()
    else:
        with psycopg.connect(url) as pg:
            try:
                rows = pg.execute(sql).fetchall()
            except psycopg.errors.UndefinedTable:
                return {}
    return {str(ref): (str(state), str(owner)) for ref, state, owner in rows}


def _states(url: str) -> list[str]:
    return [state for state, _ in _campaign_rows(url).values()]


def _no_transaction_open(url: str) -> bool:
    """True when no session holds a write transaction open on the journal (a worker
    stopped inside one would hold every other worker back: not this attack)."""
    if url.startswith("sqlite:///"):
        connection = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=0.2)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            connection.close()
    with psycopg.connect(url, autocommit=True) as pg:
        row = pg.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
        ).fetchone()
    return row is not None and int(row[0]) == 0


@pytest.fixture(params=["postgresql", "sqlite"])
def campaign_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'campaign.db'}"
    return str(request.getfixturevalue("postgres_url"))


def test_a_worker_stopped_past_its_lease_and_continued_never_sends_a_row_twice(
    tmp_path: Path, slow_sandbox: tuple[str, Path], campaign_url: str
) -> None:
    """Attack: a hand-started ``bulk-create`` worker, rate-limited so that it holds claims
    on rows it has not sent, and with requests in flight, is stopped with SIGSTOP (a
    laptop lid, a debugger, a VM paused) for longer than its ``--lease``. A second worker
    takes the rows whose claims ran out and sends them, and leaves the stopped one's
    intents alone (in flight elsewhere). Then the first continues (SIGCONT): its answers
    are recorded, and its late intents for the rows it lost are refused, so it never
    sends them. Every card once; every row issued."""
    import os
    import signal
    import subprocess
    import time

    from tests.conftest import gatepay_command, gatepay_environ
    from tests.test_bulk_campaign import _cards, _rows
    from tests.test_cli import CLIENT_ID, SECRET_KEY, read_output, write_input

    base_url, cards_db = slow_sandbox
    count = 40
    source = write_input(tmp_path / "in.csv", _rows(count))
    env = {**gatepay_environ(base_url, CLIENT_ID, SECRET_KEY), "GATEPAY_JOURNAL": campaign_url}

    def command(out: str, *more: str) -> list[str]:
        return gatepay_command(
            *("bulk-create", str(source), "--out", str(tmp_path / out), "--no-progress"),
            *("--concurrency", "4", "--lease", str(STOP_LEASE), *more),
        )

    stopped = subprocess.Popen(  # noqa: S603 - our own module
        command("stopped.csv", "--rate", "8"),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    other: subprocess.Popen[str] | None = None
    try:
        deadline = time.monotonic() + 40
        while _states(campaign_url).count("issued") < 3:
            assert stopped.poll() is None, stopped.communicate()[1]
            assert time.monotonic() < deadline, "the worker made no progress"
            time.sleep(0.02)
        for _ in range(50):  # stop it holding claims, and outside a transaction
            os.kill(stopped.pid, signal.SIGSTOP)
            at_stop = _campaign_rows(campaign_url)
            claimed = {ref: owner for ref, (state, owner) in at_stop.items() if state == "claimed"}
            if claimed and _no_transaction_open(campaign_url):
                break
            os.kill(stopped.pid, signal.SIGCONT)
            time.sleep(0.03)
        else:
            pytest.fail("never caught the worker holding claims")
        in_flight = {ref for ref, (state, _) in at_stop.items() if state == "intent"}
        time.sleep(STOP_LEASE + 0.3)  # its claims run out on the database's clock

        other = subprocess.Popen(  # noqa: S603 - our own module
            command("other.csv"),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        # Continued the moment the other worker holds a row the stopped one had claimed
        # (claimed or in flight there): both then want to send it.
        while True:
            now = _campaign_rows(campaign_url)
            if any(
                now[ref][1] != owner and now[ref][0] in ("claimed", "intent")
                for ref, owner in claimed.items()
            ):
                break
            assert other.poll() is None, other.communicate()[1]
            assert time.monotonic() < deadline + 20, "the other worker took nothing"
            time.sleep(0.005)
        os.kill(stopped.pid, signal.SIGCONT)
        for worker in (stopped, other):
            _, stderr = worker.communicate(timeout=60)
            assert "Traceback" not in stderr, stderr
            assert worker.returncode in (0, 2), stderr
        by_other = {row["ref"]: row for row in read_output(tmp_path / "other.csv")}
        for ref in in_flight:  # an intent is never released by a lease: not sent there
            assert by_other[ref]["state"] in ("unknown", "issued"), by_other[ref]
    finally:
        for worker in (stopped, other):
            if worker is not None and worker.poll() is None:
                os.kill(worker.pid, signal.SIGCONT)
                worker.kill()
                worker.wait()
    issued = _cards(cards_db)  # fails if a title was issued twice
    assert len(issued) == count
    assert _states(campaign_url) == ["issued"] * count  # the stopped worker's answers too


# ---------------------------------------------------------------------- one ledger, both facades


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.mark.parametrize("shared", [True, False], ids=["one Ledger object", "a Ledger each"])
def test_sync_threads_and_async_tasks_on_one_ledger_send_one_create(
    sandbox: object, ledger_url: str, shared: bool
) -> None:
    """Attack: one key, created at the same moment by four threads sharing a ``GatePay``
    and four asyncio tasks sharing an ``AsyncGatePay`` (in a thread of its own), both
    clients on the same ledger (one ``Ledger`` object, or one each on the same database),
    while the sandbox holds the answer 0.5 s. One create reaches GatePay; every caller
    gets that card or ``OutcomeUnknownError`` (in flight elsewhere); a call after them
    gets the card, nothing sent."""
    import asyncio
    import threading

    from gatepay_async import AsyncGatePay
    from gatepay_async import OutcomeUnknownError as AsyncUnknown
    from gatepay_async.sandbox import SandboxServer, parse_fault
    from gatepay_sync import GatePay, Ledger, OutcomeUnknownError
    from tests.conftest import SANDBOX_CLIENT_ID, SANDBOX_SECRET_KEY

    assert isinstance(sandbox, SandboxServer)
    sandbox.sandbox.inject(parse_fault("create:latency=0.5"))
    assert OutcomeUnknownError is AsyncUnknown  # one class for both facades
    shared_ledger = Ledger(ledger_url) if shared else None
    arguments = {
        "client_id": SANDBOX_CLIENT_ID,
        "secret_key": SANDBOX_SECRET_KEY,
        "base_url": sandbox.url,
        "timeout": 30.0,
    }
    order = {"title": "Order 77", "template_id": "255267012439183360"}
    order |= {"currency": "USDT", "amount": "5", "idempotency_key": "order-77"}
    start = threading.Barrier(4 + 1)
    results: list[str] = []  # a card's number, or "unknown: <text>"
    lock = threading.Lock()

    def note(outcome: str) -> None:
        with lock:
            results.append(outcome)

    def in_thread(gp: GatePay) -> None:
        start.wait(timeout=30)
        try:
            note(gp.gift_cards.create(**order).card_number)  # type: ignore[arg-type]
        except OutcomeUnknownError as exc:
            note(f"unknown: {exc}")

    async def in_tasks() -> None:
        ledger = shared_ledger if shared else ledger_url
        async with AsyncGatePay(**arguments, ledger=ledger) as agp:  # type: ignore[arg-type]

            async def one() -> None:
                try:
                    note((await agp.gift_cards.create(**order)).card_number)  # type: ignore[arg-type]
                except OutcomeUnknownError as exc:
                    note(f"unknown: {exc}")

            await asyncio.to_thread(start.wait, 30)
            await asyncio.gather(*(one() for _ in range(4)))

    try:
        ledger = shared_ledger if shared else ledger_url
        with GatePay(**arguments, ledger=ledger) as gp:  # type: ignore[arg-type]
            threads = [threading.Thread(target=in_thread, args=(gp,)) for _ in range(4)]
            threads.append(threading.Thread(target=lambda: asyncio.run(in_tasks())))
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            assert not any(thread.is_alive() for thread in threads)
            assert sandbox.sandbox.attempts("create") == 1
            cards = {outcome for outcome in results if not outcome.startswith("unknown")}
            unknown = [outcome for outcome in results if outcome.startswith("unknown")]
            assert len(results) == 8
            assert len(cards) == 1, results  # the one card, to whoever got it
            assert all("in flight elsewhere" in text for text in unknown), unknown
            after = gp.gift_cards.create(**order)  # type: ignore[arg-type]
            assert after.card_number in cards
            assert sandbox.sandbox.attempts("create") == 1
    finally:
        if shared_ledger is not None:
            shared_ledger.close()


# ---------------------------------------------------------------------- the journal's server killed


@pytest.fixture
def own_postgres() -> Iterator[object]:
    """A PostgreSQL server of this test's own: it is killed and restarted."""
    from tests.postgres_server import PostgresServer

    with PostgresServer() as server:
        yield server


#: The journal's wait for a PostgreSQL connection (gatepay_async._storage.journal_db.POOL_WAIT).
JOURNAL_POOL_WAIT = 10.0


def _issued_refs(url: str) -> int:
    return _states(url).count("issued")


def test_a_postgresql_journal_killed_mid_campaign_loses_no_key_and_sends_nothing_twice(
    tmp_path: Path, own_postgres: object, slow_sandbox: tuple[str, Path]
) -> None:
    """Attack: the PostgreSQL server holding a campaign's journal is SIGKILLed (server and
    backends: no shutdown) while a ``bulk-create`` worker sends, then restarted (crash
    recovery). The worker stops cleanly (no traceback, exit 2, before sending anything
    more), every card GatePay issued has its key in the output or on stderr; the run
    again with the same journal and output takes those cards back and sends the rest:
    no card twice, and every card's key in the final output (or its row unknown, in
    doubt, and its key printed by the first run)."""
    import os
    import signal
    import subprocess
    import time

    from tests.conftest import gatepay_command, gatepay_environ
    from tests.postgres_server import PostgresServer
    from tests.test_bulk_campaign import _cards, _rows
    from tests.test_cli import CLIENT_ID, SECRET_KEY, read_output, write_input

    assert isinstance(own_postgres, PostgresServer)
    base_url, cards_db = slow_sandbox
    journal_url = own_postgres.new_database()
    count = 120
    source = write_input(tmp_path / "in.csv", _rows(count))
    out = tmp_path / "out.csv"
    env = {**gatepay_environ(base_url, CLIENT_ID, SECRET_KEY), "GATEPAY_JOURNAL": journal_url}
    command = gatepay_command(
        *("bulk-create", str(source), "--out", str(out), "--no-progress"),
        *("--concurrency", "8", "--lease", "2"),
    )
    worker = subprocess.Popen(  # noqa: S603 - our own module
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 40
        while _issued_refs(journal_url) < 16:
            assert worker.poll() is None, worker.communicate()
            assert time.monotonic() < deadline, "the worker made no progress"
            time.sleep(0.02)
        own_postgres.kill()  # mid-run: requests in flight, records queued
        killed_at = time.monotonic()
        stdout, stderr = worker.communicate(timeout=45)
        stopped_after = time.monotonic() - killed_at
    finally:
        if worker.poll() is None:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
    assert "Traceback" not in stderr, stderr
    assert worker.returncode == 2, stdout + stderr  # the journal failed: not a usage error
    assert "cannot write to the journal" in stderr, stderr
    # It stopped within the journal's wait for a connection, without waiting on the dead
    # server again to write the output (before: 30 s, then 30 s more for each read).
    assert stopped_after < JOURNAL_POOL_WAIT + 8, stopped_after
    issued_then = _cards(cards_db)
    written = {row["ref"]: row for row in read_output(out)}  # written from memory
    unwritten = [
        line.split(",") for line in stderr.splitlines() if re.match(r"r\d+,\S+,\S+$", line)
    ]
    for ref, number, key in unwritten:  # the keys the database never got: in the output
        assert (written[ref]["card_number"], written[ref]["key"]) == (number, key)
    first_run = stderr + out.read_text()

    own_postgres.launch()  # crash recovery: what was committed is there
    resumed = subprocess.run(  # noqa: S603 - our own module
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert "Traceback" not in resumed.stderr, resumed.stderr
    if unwritten:
        assert f"took {len(unwritten)} card(s)" in resumed.stderr, resumed.stderr
    cards = _cards(cards_db)  # fails if a title was issued twice
    assert set(issued_then) <= set(cards)
    final = {row["ref"]: row for row in read_output(out)}
    assert len(final) == count
    for title, (number, key) in cards.items():
        row = final[title.replace("title-", "r", 1)]
        if row["state"] == "issued":
            assert (row["card_number"], row["key"]) == (number, key)
        else:  # in doubt: the answer was lost with the database; its key was printed
            assert row["state"] == "unknown", row
            assert key in first_run, title
    unknown = [row for row in final.values() if row["state"] != "issued"]
    assert all(row["state"] == "unknown" for row in unknown), unknown
    assert len(unknown) <= 8  # at most the requests in flight when the server died
    print(f"stopped {stopped_after:.1f} s after the kill; {len(unknown)} row(s) in doubt")


@pytest.mark.parametrize("shape", ["gzip bomb", "endless body"])
def test_answers_past_the_size_cap_are_refused_unread_over_aiohttp(shape: str) -> None:
    """Attack: a create answered with a gzip bomb (16 MiB inflated from some 16 KiB) or
    a 64 MiB chunked body, through ``DefaultAioHttpClient()``: refused at the cap
    (``max_response_bytes``) without reading it whole, unknown, sent once (held: the
    cap is the client's, whatever the transport)."""
    import asyncio

    from gatepay_async import DefaultAioHttpClient, OutcomeUnknownError
    from tests._async.conftest import client_at
    from tests._async.test_attack_transports import _create
    from tests._async.test_hostile_servers import endless, serve_bomb
    from tests.raw_server import RawServer

    async def run() -> OutcomeUnknownError:
        http_client = DefaultAioHttpClient()
        try:
            async with client_at(server.url, timeout=10.0, http_client=http_client) as gp:
                with pytest.raises(OutcomeUnknownError) as info:
                    await _create(gp)
                return info.value
        finally:
            await http_client.aclose()

    with RawServer(serve_bomb if shape == "gzip bomb" else endless) as server:
        error = asyncio.run(run())
        assert server.finished.wait(15)
    assert server.hits == 1
    assert "max_response_bytes" in repr(error.cause) + str(error)
    assert error.answer is not None
    assert len(error.answer.body) <= 1024 * 1024 + 1  # what was read, up to the cap
    assert server.sent < 32 * 1024 * 1024  # the client hung up early (socket buffers aside)

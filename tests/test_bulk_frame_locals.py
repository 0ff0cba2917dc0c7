"""A bulk run stopped by its journal shows no key in any frame an error tool renders.

A journal that cannot be written (a full disk, a database that refuses the write) stops
``create_many`` with a ``JournalError``. The records it could not write hold GatePay's
raw answers and the cards' keys; the frames that held them were in the error's
traceback, where rich tracebacks with locals, structlog's ``dict_tracebacks``, Sentry's
frame variables and Django's technical 500 page show them. Each case walks every frame
of every exception reachable from the error, as ``tests/_async/test_frame_locals.py``
does for single operations.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sqlite3
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from gatepay_async import AsyncGatePay, CardSpec, JournalError
from gatepay_async._storage.journal_db import DatabaseJournal
from gatepay_sync import GatePay
from tests.frame_locals import API_KEY, CARD, SECRET, frames, leaked, local_renderings
from tests.raw_server import RawServer, Request, answer


def _issue(conn: socket.socket, request: Request, server: RawServer) -> None:
    """Every create is issued, each card with the key the walk looks for."""
    server.sent += 1
    card = dict(CARD, card_num=f"GC{server.sent:012d}")
    body = {"status": "SUCCESS", "code": "000000", "data": card}
    answer(conn, "200 OK", json.dumps(body).encode(), {"Content-Type": "application/json"})


class _DiskFull:
    """``os.write`` on a disk that fills up when GatePay's next answer is written: the
    failed write holds a card's key (intents alone do not)."""

    full = False

    def __call__(self, fd: int, data: memoryview) -> int:
        self.full = self.full or b'"op":"answer"' in bytes(data)
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, data)


def _specs() -> list[CardSpec]:
    return [
        CardSpec(
            ref=f"row-{i}",
            title="bulk",
            template_id="255267012439183360",
            currency="USDT",
            amount=Decimal(1),
        )
        for i in range(8)
    ]


def _break(journal: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The journal's location, broken so that writing GatePay's first answer fails."""
    if journal == "file":
        monkeypatch.setattr("gatepay_async._storage.journal._write_fd", _DiskFull())
        return str(tmp_path / "journal.jsonl")
    location = f"sqlite:///{tmp_path}/journal.db"
    DatabaseJournal.open(location).close()  # its tables
    database = sqlite3.connect(tmp_path / "journal.db")
    database.execute(
        "CREATE TRIGGER full BEFORE INSERT ON gatepay_journal_records"
        " WHEN NEW.op = 'answer' BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
    )
    database.commit()
    database.close()
    return location


def _shown(error: BaseException) -> list[str]:
    found = []
    for where, variables in frames(error):
        for name, value in variables.items():
            for text in local_renderings(value):
                if leaked(text):
                    found.append(f"{where}: {name} = {text[:300]}")
                    break
    return found


async def _async_run(url: str, journal: str) -> JournalError:
    async with (
        AsyncGatePay(client_id="bulk", secret_key=SECRET, api_key=API_KEY, base_url=url) as gp,
        gp.gift_cards.create_many(_specs(), journal=journal, concurrency=2) as results,
    ):
        try:
            async for _ in results:
                pass
        except JournalError as exc:
            return exc
    raise AssertionError("the run did not stop on its journal")


def _sync_run(url: str, journal: str) -> JournalError:
    with (
        GatePay(client_id="bulk", secret_key=SECRET, api_key=API_KEY, base_url=url) as gp,
        gp.gift_cards.create_many(_specs(), journal=journal, concurrency=2) as results,
    ):
        try:
            for _ in results:
                pass
        except JournalError as exc:
            return exc
    raise AssertionError("the run did not stop on its journal")


@pytest.mark.parametrize("journal", ["file", "sqlite"])
@pytest.mark.parametrize("facade", ["async", "sync"])
def test_a_journal_that_stops_the_run_shows_no_key_in_its_frames(
    facade: str, journal: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    location = _break(journal, tmp_path, monkeypatch)
    with RawServer(_issue) as server:
        if facade == "async":
            error = anyio.run(_async_run, server.url, location)
        else:
            error = _sync_run(server.url, location)
    assert "run again with the same journal" in str(error)
    assert server.sent >= 1  # a card was issued: its answer is what could not be written
    walked = sum(1 for _ in frames(error))
    assert walked > 3  # the SDK's own frames were walked
    found = _shown(error)
    assert not found, "\n".join(found)

"""``gatepay bulk-create``'s credential check: a signed read before any create. When it
gets no readable answer (an error page, a garbled or cut body), the run stops before its
first create: real ``bulk-create`` processes against a sandbox process with a fault on
the read, and against a raw loopback server that answers nothing GatePay would."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gatepay_async._cli_names import EXIT_REFUSED, EXIT_USAGE
from tests.conftest import gatepay_command, gatepay_environ
from tests.raw_server import RawServer, Request, answer
from tests.test_cli import (
    ADMIN_TOKEN,
    CLIENT_ID,
    SECRET_KEY,
    TEMPLATE_ID,
    _start_sandbox,
    _stats,
    _stop_sandbox,
    write_input,
)

ROWS = [(f"r{i}", f"title-{i}", TEMPLATE_ID, "USDT", "1") for i in range(3)]


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[str]:
    process, url = _start_sandbox(tmp_path / "cards.db", latency=0.0)
    try:
        yield url
    finally:
        _stop_sandbox(process)


def _bulk_create(url: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    source = write_input(tmp_path / "in.csv", ROWS)
    out, journal = tmp_path / "out.csv", tmp_path / "run.journal"
    command = gatepay_command(
        "--json",
        *("bulk-create", str(source), "--out", str(out), "--journal", str(journal)),
        "--no-progress",
    )
    done = subprocess.run(  # noqa: S603 - our own module
        command,
        capture_output=True,
        text=True,
        env=gatepay_environ(url, CLIENT_ID, SECRET_KEY),
        timeout=120,
        check=False,
    )
    return done, out, journal


def _nothing_recorded(out: Path, journal: Path) -> None:
    """The stopped run wrote no output, and its journal holds no row."""
    assert not out.exists()
    text = journal.read_text(encoding="utf-8") if journal.exists() else ""
    assert not any(ref in text for ref, *_ in ROWS)


@pytest.mark.parametrize(
    ("fault", "code", "reads"),
    [
        ("templates:html_error", EXIT_REFUSED, 3),  # a proxy's 502 page, three times
        ("templates:malformed_json", EXIT_REFUSED, 1),  # a 200 that cannot be read
        ("templates:drop_after", EXIT_USAGE, 3),  # the answer cut, three times
    ],
    ids=["html-error-page", "malformed-json", "cut-answer"],
)
def test_a_credential_check_without_a_readable_answer_sends_no_create(
    sandbox: str, tmp_path: Path, fault: str, code: int, reads: int
) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    httpx.post(sandbox + "/_sandbox/faults", json={"spec": fault}, headers=admin).raise_for_status()
    done, out, journal = _bulk_create(sandbox, tmp_path)
    assert done.returncode == code, done.stderr
    error = json.loads(done.stderr.splitlines()[-1])["error"]
    assert error["exit_code"] == code
    assert "no readable answer" in error["message"]
    assert "no create was sent" in error["message"]
    attempts = _stats(sandbox)["attempts"]
    assert attempts.get("create", 0) == 0
    assert attempts["templates"] == reads
    _nothing_recorded(out, journal)


def test_a_hostile_server_gets_no_create(tmp_path: Path) -> None:
    # Whatever is asked, a 200 whose body is no JSON at all.
    seen: list[str] = []

    def respond(conn: socket.socket, request: Request, server: RawServer) -> None:
        seen.append(f"{request.method} {request.target}")
        answer(conn, "200 OK", b"<html>hello</html>", {"Content-Type": "text/html"})

    with RawServer(respond) as server:
        done, out, journal = _bulk_create(server.url, tmp_path)
    assert done.returncode == EXIT_REFUSED, done.stderr
    assert [line.split(" ", 1)[0] for line in seen] == ["GET"]  # the check, and no POST
    assert not any("/gift/create" in line for line in seen)
    _nothing_recorded(out, journal)

"""``gatepay create`` whose answer holds a card but decodes as unknown (exit 3): the raw
answer goes to a new 0600 file, the command says where, and the key never reaches the
terminal. A real ``gatepay`` process against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import gatepay_command, gatepay_environ
from tests.raw_server import RawServer, Request, answer
from tests.secret_leaks import leaked_pieces

KEY = "q8Zf3Lm+Wx0/Tb7PkR2nYc5Vd1Hs9Ja4Ge6Ui8Oo3E="
JSON = {"Content-Type": "application/json"}


def _envelope(data: dict[str, object]) -> bytes:
    return json.dumps({"status": "SUCCESS", "code": "000000", "data": data}).encode()


ANSWERS = {
    "503 with a card": ("503 Service Unavailable", _envelope({"card_num": "N1", "card_key": KEY})),
    "odd spelling": ("200 OK", _envelope({"cardNo": "N1", "cardKey": KEY})),
}


def _create(tmp_path: Path, status: str, body: bytes, *extra: str) -> tuple[int, str, str, int]:
    """Run ``gatepay create`` in ``tmp_path``; (exit, stdout, stderr, creates received)."""

    def respond(conn: socket.socket, request: Request, server: RawServer) -> None:
        server.sent += 1
        answer(conn, status, body, JSON)

    with RawServer(respond) as server:
        env = gatepay_environ(server.url, "client", "secret")
        command = gatepay_command(*extra, "create")
        command += ["--title", "t", "--template-id", "1", "--currency", "USDT", "--amount", "1"]
        done = subprocess.run(  # noqa: S603 - our own module
            command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
        )
        return done.returncode, done.stdout, done.stderr, server.sent


def _check_file(path: Path, tmp_path: Path, status: str, body: bytes) -> None:
    assert path.parent == tmp_path.resolve()
    assert path.name.startswith("gatepay-answer-")
    assert path.name.endswith(".txt")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    content = path.read_bytes()
    assert content.startswith(f"HTTP {status.split()[0]}\n".encode())
    assert content.endswith(body)  # the body exactly as received, key included


@pytest.mark.parametrize("case", list(ANSWERS))
def test_unknown_create_saves_the_raw_answer_to_a_0600_file(tmp_path: Path, case: str) -> None:
    status, body = ANSWERS[case]
    code, out, err, sent = _create(tmp_path, status, body)
    assert code == 3, err
    assert sent == 1  # never resent
    assert not leaked_pieces(KEY, out + err)
    assert ".answer" not in err  # a program's attribute means nothing on a command line
    files = list(tmp_path.glob("gatepay-answer-*.txt"))
    assert len(files) == 1
    line = f"GatePay answered HTTP {status.split()[0]}; its raw answer, which may hold a card's"
    assert line in err
    assert f"is in {files[0].resolve()} (mode 0600)" in err
    _check_file(files[0].resolve(), tmp_path, status, body)


def test_unknown_create_json_error_names_the_answer_file(tmp_path: Path) -> None:
    status, body = ANSWERS["503 with a card"]
    code, out, err, _ = _create(tmp_path, status, body, "--json")
    assert code == 3
    assert not leaked_pieces(KEY, out + err)
    error = json.loads(err.splitlines()[-1])["error"]
    assert error["card_may_exist"] is True
    assert error["answer_status_code"] == 503
    _check_file(Path(error["answer_file"]), tmp_path, status, body)
    assert ".answer" not in error["message"]


def test_two_unknown_creates_never_share_an_answer_file(tmp_path: Path) -> None:
    status, body = ANSWERS["odd spelling"]
    for _ in range(2):
        assert _create(tmp_path, status, body)[0] == 3
    assert len(list(tmp_path.glob("gatepay-answer-*.txt"))) == 2


def test_an_existing_name_or_planted_link_is_never_written_through(tmp_path: Path) -> None:
    from gatepay_async._errors import RawAnswer
    from gatepay_async.cli._answer_file import _create

    target = tmp_path / "elsewhere"
    target.write_text("untouched")
    (tmp_path / "gatepay-answer-STAMP.txt").symlink_to(target)
    fd, path = _create(tmp_path, "STAMP")
    os.close(fd)
    assert path.name == "gatepay-answer-STAMP-1.txt"
    assert target.read_text() == "untouched"
    assert RawAnswer(503, b"x").status_code == 503

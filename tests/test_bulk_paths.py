"""bulk-create's files: a journal that is the input or the output (by name, symbolic or
hard link) is refused before anything is sent; no symbolic link is followed; the
temporary output is created exclusively; an output that cannot be written is found out
before the first create."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gatepay_async._storage.journal import Journal
from gatepay_async.cli._csv_io import write_output
from gatepay_async.sandbox import SandboxServer
from tests.test_cli import TEMPLATE_ID, env, invoke, server, write_input

__all__ = ["env", "server"]  # fixtures used here

ROWS = [("a", "x", TEMPLATE_ID, "USDT", "1"), ("b", "y", TEMPLATE_ID, "USDT", "2")]


def _same_as_out(tmp: Path) -> tuple[Path, Path]:
    return tmp / "o.csv", tmp / "o.csv"


def _symlink_to_input(tmp: Path) -> tuple[Path, Path]:
    (tmp / "link").symlink_to(tmp / "in.csv")
    return tmp / "o.csv", tmp / "link"


def _hardlink_to_out(tmp: Path) -> tuple[Path, Path]:
    (tmp / "o.csv").write_text("old output\n", encoding="utf-8")
    os.link(tmp / "o.csv", tmp / "hard")
    return tmp / "o.csv", tmp / "hard"


def _out_is_input(tmp: Path) -> tuple[Path, Path]:
    return tmp / "in.csv", tmp / "j"


def _out_through_symlink(tmp: Path) -> tuple[Path, Path]:
    (tmp / "o.csv").symlink_to(tmp / "elsewhere.csv")
    return tmp / "o.csv", tmp / "j"


def _journal_through_symlink(tmp: Path) -> tuple[Path, Path]:
    (tmp / "j").symlink_to(tmp / "redirected.journal")
    return tmp / "o.csv", tmp / "j"


def _out_in_a_missing_directory(tmp: Path) -> tuple[Path, Path]:
    return tmp / "missing" / "o.csv", tmp / "j"


@pytest.mark.parametrize(
    "arrange",
    [
        _same_as_out,
        _symlink_to_input,
        _hardlink_to_out,
        _out_is_input,
        _out_through_symlink,
        _journal_through_symlink,
        _out_in_a_missing_directory,
    ],
)
def test_bad_paths_are_refused_before_anything_is_sent(
    env: dict[str, str],
    server: SandboxServer,
    tmp_path: Path,
    arrange: Callable[[Path], tuple[Path, Path]],
) -> None:
    source = write_input(tmp_path / "in.csv", ROWS)
    before_input = source.read_bytes()
    out, journal = arrange(tmp_path)
    sent = server.sandbox.attempts("create")
    result = invoke("bulk-create", str(source), "--out", str(out), "--journal", str(journal))
    assert result.exit_code == 1, result.output
    assert "nothing was sent" in result.output or "symbolic link" in result.output
    assert server.sandbox.attempts("create") == sent
    assert source.read_bytes() == before_input
    assert not (tmp_path / "redirected.journal").exists()  # no link followed
    assert not (tmp_path / "elsewhere.csv").exists()


def test_the_temporary_output_never_follows_a_planted_link(tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.csv", ROWS)
    victim = tmp_path / "victim"
    victim.write_text("precious\n", encoding="utf-8")
    out = tmp_path / "o.csv"
    for name in (f".{out.name}.{os.getpid()}.tmp", f".{out.name}.tmp"):
        (tmp_path / name).symlink_to(victim)
    with Journal.open(tmp_path / "j") as journal:
        counts = write_output(source, out, journal)
    assert counts["not_attempted"] == 2
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert not out.is_symlink()
    assert out.read_text(encoding="utf-8").startswith("ref,state")
    assert oct(out.stat().st_mode & 0o777) == "0o600"

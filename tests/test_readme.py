"""README.md's code: every ``python`` block is collected and run (see the root conftest.py),
and what the README says about the command line holds."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from gatepay_async.cli._app import cli
from gatepay_async.sandbox import SandboxServer

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def test_pytest_collects_every_python_block_of_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    blocks = len(re.findall(r"^```python$", text, flags=re.MULTILINE))
    skipped = len(re.findall(r"^<!-- skip: next( .*)? -->$", text, flags=re.MULTILINE))
    assert blocks >= 4
    collected = subprocess.run(  # noqa: S603 - pytest on our own README
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         str(README)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ},
    )  # fmt: skip
    assert collected.returncode == 0, collected.stdout + collected.stderr
    items = [line for line in collected.stdout.splitlines() if line.startswith("README.md::")]
    assert len(items) == blocks + skipped  # a skipped block is still an item (reported skipped)


def test_readme_documents_every_exit_code() -> None:
    text = README.read_text(encoding="utf-8")
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 4 |", "| 130 |"):
        assert code in text


def test_shell_completion_script_is_printed() -> None:
    result = CliRunner().invoke(
        cli, [], prog_name="gatepay", env={"_GATEPAY_COMPLETE": "bash_source"}
    )
    assert result.exit_code == 0
    assert "_gatepay_completion" in result.output
    assert "_GATEPAY_COMPLETE=bash_source gatepay" in README.read_text(encoding="utf-8")


def test_the_readme_multi_worker_campaign_command_runs_against_the_sandbox(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """ "Beyond one machine" shows a ``--workers 3`` campaign: run that very line (the
    ``gatepay`` word replaced by this interpreter's module) over a small cards.csv."""
    section = README.read_text(encoding="utf-8").split("## Beyond one machine", 1)[1]
    line = next(
        line.strip()
        for line in section.splitlines()
        if line.startswith("gatepay bulk-create") and "--workers" in line
    )
    words = line.split()
    assert words[:3] == ["gatepay", "bulk-create", "cards.csv"]
    rows = ["ref,title,template_id,currency,amount"] + [
        f"readme-{n},Readme {n},255267012439183360,USDT,1" for n in range(12)
    ]
    (tmp_path / "cards.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    env = {
        **os.environ,
        "GATEPAY_BASE_URL": sandbox.url,
        "GATEPAY_CLIENT_ID": "sandbox-client",
        "GATEPAY_SECRET_KEY": "sandbox-secret",
    }
    env.pop("GATEPAY_JOURNAL", None)
    ran = subprocess.run(  # noqa: S603 - the README's own command line
        [sys.executable, "-m", "gatepay_async.cli", *words[1:], "--no-progress"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    with (tmp_path / "issued.csv").open(newline="") as handle:
        issued = list(csv.DictReader(handle))
    assert [row["ref"] for row in issued] == [f"readme-{n}" for n in range(12)]
    assert all(row["state"] == "issued" and row["key"] for row in issued)
    assert sandbox.sandbox.attempts("create") == 12

"""README.md's code: every ``python`` block is collected and run (see the root conftest.py),
and what the README says about the command line holds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from gatepay_async.cli._app import cli

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

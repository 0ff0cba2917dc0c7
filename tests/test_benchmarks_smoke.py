"""The benchmark scripts still run: ``benchmarks/run_all.py --quick`` on tiny sizes.

Not a performance test: nothing here looks at the numbers, only that every script ran
and that the README's results section was rewritten from their output.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.postgres_server import PostgresServer

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_run_all_quick_runs_every_script_and_rewrites_the_readme(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    shutil.copy(BENCHMARKS / "README.md", readme)
    completed = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(BENCHMARKS / "run_all.py"), "--quick", "--readme", str(readme)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    text = readme.read_text(encoding="utf-8")
    results = text.split("<!-- results:start -->", 1)[1].split("<!-- results:end -->", 1)[0]
    assert "quick smoke run" in results
    for heading in (
        "Per-call overhead",
        "Latency-bound bulk",
        "Bulk throughput",
        "Memory",
        "Import cost",
        "Client construction",
        "Profile of the hot path",
    ):
        assert f"#### {heading}" in results
    assert "did not run" not in results
    # The recorded sections are left alone, and nothing else was written.
    original = (BENCHMARKS / "README.md").read_text(encoding="utf-8")
    recorded = "## Before optimisation"
    assert text.split(recorded, 1)[1] == original.split(recorded, 1)[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]


def test_the_database_benchmarks_run_quick(tmp_path: Path, postgres_server: PostgresServer) -> None:
    """``bench_ledger.py``, ``bench_ledger_writes.py`` and ``bench_campaign.py`` need a
    PostgreSQL server, so ``run_all.py`` leaves them out; they run alone. The campaign
    starts one of its own as the tests do (its server CPU is measured only then); the
    others are each given a new database of the tests' server (``--postgres-url``)."""
    for script, given in (
        ("bench_ledger.py", ["--postgres-url", postgres_server.new_database()]),
        ("bench_ledger_writes.py", ["--postgres-url", postgres_server.new_database()]),
        ("bench_campaign.py", []),
    ):
        output = tmp_path / f"{script}.json"
        completed = subprocess.run(  # noqa: S603 - our own interpreter and script
            [sys.executable, str(BENCHMARKS / script), "--quick", "--json", str(output), *given],
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
            cwd=BENCHMARKS,
        )
        assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
        assert output.exists()

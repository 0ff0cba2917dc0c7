"""Shared campaigns: ``gatepay bulk-create`` with 3 workers on one PostgreSQL journal,
against one process with the file journal, on the same responder.

The responder is ``_responder.py --engine asyncio --latency 0.05`` (a fixed card answer
after 50 ms; it uses a fraction of a core). PostgreSQL is a real server on 127.0.0.1: the
one named by ``--postgres URL`` (each run gets a campaign of its own), else one started
from the installed server binaries for this run (``tests/postgres_server.py``). Each
variant is a real ``gatepay bulk-create`` command over the same CSV of ``--rows`` rows:

- ``file``: one process, the JSON-lines journal (the default);
- ``sqlite``: one process, an SQLite journal;
- ``postgres``: one process, a PostgreSQL journal;
- ``postgres x3``: ``--workers 3`` over a PostgreSQL journal (three worker processes
  claiming rows, then the final output written from the journal).

Each variant runs ``--runs`` times, alternating; the best wall time is kept. Recorded:
cards/s over the whole command (start to exit, output written), the CPU of the command
and its children (``RUSAGE_CHILDREN``) per card, and the PostgreSQL server's CPU per card
(its processes' own and their reaped children's). Ratios are against ``file`` in the
same run. On 2 cores, three workers, the server and the responder share the machine: the
ratio shows what claims and a networked journal cost, not what three hosts would reach.
"""

from __future__ import annotations

import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from _common import (
    CLIENT_ID,
    REPO_ROOT,
    SECRET_KEY,
    TEMPLATE_ID,
    base_parser,
    child_env,
    emit,
    machine_info,
    responder_process,
)

VARIANTS = ("file", "sqlite", "postgres", "postgres x3")


def _write_input(path: Path, rows: int, run: str) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ref", "title", "template_id", "currency", "amount"])
        for index in range(rows):
            writer.writerow([f"{run}-{index}", f"Bench {index}", TEMPLATE_ID, "USDT", "0.99"])


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and of its children it has reaped (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def _postgres_pids(server: Any) -> list[int]:
    if server is None:
        return []
    return [server.process.pid]


def _run(
    variant: str,
    *,
    folder: Path,
    rows: int,
    concurrency: int,
    base_url: str,
    postgres_url: str | None,
) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    source = folder / f"{run}.csv"
    out = folder / f"{run}.out.csv"
    _write_input(source, rows, run)
    args = [
        sys.executable,
        "-m",
        "gatepay_async.cli",
        "bulk-create",
        str(source),
        "--out",
        str(out),
        "--concurrency",
        str(concurrency),
        "--no-progress",
    ]
    env = {
        **child_env(),
        "GATEPAY_CLIENT_ID": CLIENT_ID,
        "GATEPAY_SECRET_KEY": SECRET_KEY,
        "GATEPAY_BASE_URL": base_url,
    }
    env.pop("GATEPAY_JOURNAL", None)
    if variant == "sqlite":
        args += ["--journal", f"sqlite:///{folder / (run + '.db')}"]
    elif variant.startswith("postgres"):
        assert postgres_url is not None
        separator = "&" if "?" in postgres_url else "?"
        # Through the variable, as a URL with a password should go (not the process list).
        env["GATEPAY_JOURNAL"] = f"{postgres_url}{separator}campaign={run}"
        if variant == "postgres x3":
            args += ["--workers", "3"]
    cpu_before = _children_cpu()
    started = time.perf_counter()
    finished = subprocess.run(  # noqa: S603 - our own interpreter and module
        args, env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before
    if finished.returncode != 0:
        raise RuntimeError(f"{variant}: exit {finished.returncode}\n{finished.stderr[-2000:]}")
    with out.open(newline="") as handle:
        issued = sum(1 for row in csv.DictReader(handle) if row.get("state") == "issued")
    if issued != rows:
        raise RuntimeError(f"{variant}: {issued} of {rows} rows issued")
    return {
        "seconds": round(seconds, 3),
        "cards_per_s": round(rows / seconds, 1),
        "client_cpu_ms_per_card": round(cpu * 1000 / rows, 3),
    }


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000, help="rows per campaign")
    parser.add_argument("--runs", type=int, default=2, help="runs of each variant")
    parser.add_argument("--concurrency", type=int, default=16, help="per process")
    parser.add_argument("--postgres", help="a PostgreSQL URL to use (else one is started)")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.runs = 40, 1

    server = None
    postgres_url = args.postgres
    if postgres_url is None:
        sys.path.insert(0, str(REPO_ROOT))
        from tests.postgres_server import PostgresServer

        server = PostgresServer().__enter__()
        postgres_url = server.new_database()
    results: dict[str, Any] = {"rows": args.rows, "concurrency_per_process": args.concurrency}
    try:
        with (
            responder_process(latency=0.05) as responder,
            tempfile.TemporaryDirectory() as scratch,
        ):
            best: dict[str, dict[str, Any]] = {}
            server_cpu: dict[str, list[float]] = {name: [] for name in VARIANTS}
            for number in range(args.runs):
                order = VARIANTS if number % 2 == 0 else tuple(reversed(VARIANTS))
                for variant in order:
                    before = sum(_tree_cpu(pid) for pid in _postgres_pids(server))
                    measured = _run(
                        variant,
                        folder=Path(scratch),
                        rows=args.rows,
                        concurrency=args.concurrency,
                        base_url=responder.url,
                        postgres_url=postgres_url,
                    )
                    after = sum(_tree_cpu(pid) for pid in _postgres_pids(server))
                    server_cpu[variant].append((after - before) * 1000 / args.rows)
                    if variant not in best or measured["seconds"] < best[variant]["seconds"]:
                        best[variant] = measured
            baseline = best["file"]
            for variant in VARIANTS:
                entry = best[variant]
                entry["cards_per_s_vs_file"] = round(
                    entry["cards_per_s"] / baseline["cards_per_s"], 3
                )
                entry["client_cpu_vs_file"] = round(
                    entry["client_cpu_ms_per_card"] / baseline["client_cpu_ms_per_card"], 3
                )
                if server is not None and variant.startswith("postgres"):
                    entry["postgres_cpu_ms_per_card"] = round(min(server_cpu[variant]), 3)
            results["variants"] = best
    finally:
        if server is not None:
            server.__exit__(None, None, None)
    results["machine"] = machine_info()
    emit(results, args.json)


if __name__ == "__main__":
    main()

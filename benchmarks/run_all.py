"""Run every benchmark and rewrite the results section of ``benchmarks/README.md``.

    python benchmarks/run_all.py                    # everything (what ``nox -s bench`` runs)
    python benchmarks/run_all.py --save-as before   # ...and keep a copy as "Before optimisation"
    python benchmarks/run_all.py --save-as after    # ...or as "After optimisation"
    python benchmarks/run_all.py --quick --readme out.md        # smoke run, tiny sizes

Each script runs in its own interpreter with ``--json``; the results are rendered as
markdown between the ``<!-- results:... -->`` markers of the README (and, with
``--save-as``, also between that section's markers, with the raw JSON beside it in
``benchmarks/results-<name>.json``). The exit status is 1 if a script failed to run;
missed targets are reported, not errors.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _common import BENCH_DIR, child_env, machine_info, source_revision, without_machine_paths

README = BENCH_DIR / "README.md"

#: (name, script, extra arguments), in running order.
SCRIPTS: list[tuple[str, str]] = [
    ("import", "bench_import.py"),
    ("construct", "bench_construct.py"),
    ("per_call", "bench_per_call.py"),
    ("latency", "bench_latency.py"),
    ("bulk", "bench_bulk.py"),
    ("memory", "bench_memory.py"),
    ("profile", "profile_hot_path.py"),
]
SECTIONS = ("results", "before", "after")
SCRIPT_TIMEOUT = 30 * 60


# --------------------------------------------------------------------------- running


def run_script(script: str, quick: bool, directory: Path) -> dict[str, Any]:
    out = directory / f"{Path(script).stem}.json"
    command = [sys.executable, str(BENCH_DIR / script), "--json", str(out)]
    if quick:
        command.append("--quick")
    started = time.perf_counter()
    print(f"== {script}", flush=True)
    try:
        completed = subprocess.run(  # noqa: S603 - our own interpreter and scripts
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
            cwd=BENCH_DIR,
            timeout=SCRIPT_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"{script} did not finish within {SCRIPT_TIMEOUT} s"}
    seconds = time.perf_counter() - started
    print(f"   {seconds:.0f} s", flush=True)
    if completed.returncode != 0 or not out.exists():
        tail = without_machine_paths("\n".join(completed.stderr.strip().splitlines()[-15:]))
        print(tail, file=sys.stderr)
        return {"error": f"{script} exited with {completed.returncode}: {tail[-600:]}"}
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    result["wall_seconds"] = round(seconds, 1)
    result["recorded"] = _now()
    return result


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# --------------------------------------------------------------------------- formatting


def _n(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    if isinstance(value, (int, float)):
        return f"{value:,.{digits}f}"
    return str(value)


def _pct(value: Any) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def _verdict(ok: bool | None) -> str:
    return "–" if ok is None else ("**pass**" if ok else "**FAIL**")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _error(result: dict[str, Any]) -> str | None:
    error = result.get("error")
    return None if error is None else f"_did not run: {str(error).splitlines()[0][:300]}_"


def render_machine(
    info: dict[str, Any], results: dict[str, dict[str, Any]], quick: bool, total: float
) -> list[str]:
    libs = ", ".join(f"{name} {version}" for name, version in info["libraries"].items())
    memory = info["memory_gib"]
    load = ", ".join(f"{x:.2f}" for x in info.get("load_average", ()))
    lines = [
        f"Recorded {info['date']} with `{info['command']}`"
        + (" (**quick smoke run: sizes too small to mean anything**)" if quick else "")
        + f"; {total / 60:.1f} minutes in all.",
        "",
        f"- Machine: {info['cores']} cores ({info['usable_cores']} usable), {info['cpu_model']}, "
        f"{_n(memory, 1)} GiB memory; {info['os']}.",
        f"- Load average when the run started: {load} (other work on the machine shares its"
        ' cores; see "Reading these numbers").',
        f"- Code measured: gatepay at commit {info['revision']}.",
        *(
            f"- `{name}` rerun on its own at {result['recorded']} (`{result['command']}`)."
            for name, result in results.items()
            if result.get("command", info["command"]) != info["command"]
        ),
        f"- {info['python']}; {libs}.",
    ]
    return lines


def render_targets(results: dict[str, dict[str, Any]]) -> list[str]:
    rows = _per_call_targets(results) + _bulk_targets(results)
    rows += _latency_targets(results.get("latency", {}))
    rows += _construct_targets(results) + _memory_targets(results)
    rows += _import_rows(results)
    return _table(["Target", "Goal", "Measured", "Result"], rows)


def _per_call_targets(results: dict[str, dict[str, Any]]) -> list[list[str]]:
    """The per-call ratios, async and sync, query and create."""
    rows: list[list[str]] = []
    per_call = results.get("per_call", {})
    target_ratio = per_call.get("target_ratio", 1.10)
    for mode in ("async", "sync"):
        data = per_call.get(mode)
        for op in ("query", "create"):
            name = f"Per-call `{op}`, {mode}: SDK / raw httpx"
            goal = f"≤ {target_ratio:.2f}"
            if not data or "unavailable" in data or op not in data:
                reason = (data or {}).get("unavailable") or _error(per_call) or "not measured"
                rows.append([name, goal, reason, "–"])
                continue
            item = data[op]
            rows.append(
                [
                    name,
                    goal,
                    f"{item['ratio']:.3f} ({_n(item['sdk_us'])} vs {_n(item['raw_us'])} µs)",
                    _verdict(item["pass"]),
                ]
            )
    return rows


def _bulk_targets(results: dict[str, dict[str, Any]]) -> list[list[str]]:
    """Bulk throughput at concurrency 64: against the ideal and against raw httpx."""
    rows: list[list[str]] = []
    bulk = results.get("bulk", {})
    targets = bulk.get("targets", {})
    level = next(
        (lv for lv in bulk.get("levels", []) if lv["concurrency"] == targets.get("concurrency")),
        None,
    )
    if level is None:
        rows.append(["Bulk, concurrency 64", "", _error(bulk) or "not measured", "–"])
    else:
        ideal = level["ideal_cards_per_s"]
        rows.append(
            [
                "Bulk `create_many`, concurrency 64, 50 ms: vs ideal",
                f"≥ {_pct(targets['vs_ideal'])} (≥ {_n(ideal * targets['vs_ideal'])}/s)",
                f"{_n(level['sdk_cards_per_s'])}/s = {_pct(level['sdk_vs_ideal'])} of "
                f"{_n(ideal)}/s",
                _verdict(targets.get("pass_ideal")),
            ]
        )
        rows.append(
            [
                "Bulk `create_many`, concurrency 64: vs raw httpx + task group",
                f"≥ {_pct(targets['vs_raw'])}",
                f"{_pct(level['sdk_vs_raw'])} ({_n(level['sdk_cards_per_s'])} vs "
                f"{_n(level['raw_cards_per_s'])}/s)",
                _verdict(targets.get("pass_raw")),
            ]
        )
    return rows


def _construct_targets(results: dict[str, dict[str, Any]]) -> list[list[str]]:
    """Building a client, against building an httpx client."""
    rows: list[list[str]] = []
    construct = results.get("construct", {})
    for name in ("GatePay", "AsyncGatePay"):
        ratio = construct.get("ratio_vs_httpx_client", {}).get(name)
        if ratio is None:
            rows.append([f"Building `{name}(...)`", "", _error(construct) or "not measured", "–"])
            continue
        rows.append(
            [
                f"Building `{name}(...)` / building `httpx.Client()`",
                f"≤ {construct['target_ratio']:.0f}×",
                f"{ratio:.2f}× ({construct['ms'][name]['median']:.2f} vs "
                f"{construct['ms']['httpx.Client']['median']:.2f} ms)",
                _verdict(ratio <= construct["target_ratio"]),
            ]
        )
    return rows


def _memory_targets(results: dict[str, dict[str, Any]]) -> list[list[str]]:
    """Peak memory of a bulk run with a journal, and its growth."""
    rows: list[list[str]] = []
    memory = results.get("memory", {})
    if "targets" in memory:
        sizes = memory["params"]["sizes"]
        mt = memory["targets"]
        rows.append(
            [
                f"Memory: peak RSS, {sizes[1]:,} cards with a journal",
                f"≤ {_n(mt['peak_mb'])} MB",
                f"{memory['peak_large_mb']:.1f} MB",
                _verdict(mt["pass_peak"]),
            ]
        )
        rows.append(
            [
                f"Memory: peak {sizes[1]:,} / peak {sizes[0]:,}",
                f"≤ {mt['growth']:.1f}×",
                f"{memory['growth']:.2f}× ({memory['peak_large_mb']:.1f} / "
                f"{memory['peak_small_mb']:.1f} MB)",
                _verdict(mt["pass_growth"]),
            ]
        )
    else:
        rows.append(["Memory", "", _error(memory) or "not measured", "–"])
    return rows


def _import_rows(results: dict[str, dict[str, Any]]) -> list[list[str]]:
    """The import time of each package beyond httpx's (reported only)."""
    rows: list[list[str]] = []
    imports = results.get("import", {}).get("packages", {})
    for package in ("gatepay_async", "gatepay_sync"):
        data = imports.get(package)
        if not data or "unavailable" in data:
            value = (data or {}).get("unavailable") or _error(results.get("import", {})) or "–"
        else:
            value = f"{data['beyond_httpx_ms']['median']:.0f} ms (median)"
        rows.append([f"Import `{package}` beyond `import httpx`", "reported", value, "–"])
    return rows


def _latency_targets(latency: dict[str, Any]) -> list[list[str]]:
    targets = latency.get("targets")
    if not targets:
        return [["Latency-bound bulk", "", _error(latency) or "not measured", "–"]]
    levels = {level["concurrency"]: level for level in latency["levels"]}
    rows: list[list[str]] = []
    high, low = levels.get(256), levels.get(64)
    if high is not None:
        fast, raw = high["sdk_fast"], high["raw"]
        rows.append(
            [
                "Bulk, concurrency 256, 50 ms: `create_many` + aiohttp transport vs raw aiohttp",
                f"≥ {_pct(targets['fast_vs_raw_c256'])}",
                f"{_pct(fast['vs_raw'])} ({_n(fast['cards_per_s'])} vs {_n(raw['cards_per_s'])}/s;"
                f" CPU wait ≤ {_pct(high['max_cpu_wait_share'])}{_cpu_bound_note(high)})",
                _verdict(targets.get("pass_fast_vs_raw_c256")),
            ]
        )
        rows.append(
            [
                "Bulk, concurrency 256: client CPU per card, aiohttp transport / raw aiohttp",
                f"≤ {targets['fast_cpu_vs_raw_c256']:.0f}×",
                f"{fast['cpu_vs_raw']:.2f}× ({_n(fast['client_cpu_us_per_card'])} vs "
                f"{_n(raw['client_cpu_us_per_card'])} µs)",
                _verdict(targets.get("pass_fast_cpu_vs_raw_c256")),
            ]
        )
    if low is not None:
        sdk, raw = low["sdk"], low["raw"]
        rows.append(
            [
                "Bulk, concurrency 64, 50 ms: `create_many` (default transport) vs raw aiohttp",
                f"≥ {_pct(targets['sdk_vs_raw_c64'])}",
                f"{_pct(sdk['vs_raw'])} ({_n(sdk['cards_per_s'])} vs {_n(raw['cards_per_s'])}/s;"
                f" CPU wait ≤ {_pct(low['max_cpu_wait_share'])}{_cpu_bound_note(low)})",
                _verdict(targets.get("pass_sdk_vs_raw_c64")),
            ]
        )
        floor = low.get("httpx")
        if floor is not None:
            rows.append(
                [
                    "  context: hand-written httpx on the default transport's pools (no SDK)"
                    " vs raw aiohttp, concurrency 64: what any client on that stack can reach",
                    "–",
                    f"{_pct(floor['vs_raw'])} ({_n(floor['cards_per_s'])}/s,"
                    f" {_n(floor['client_cpu_us_per_card'])} µs CPU/card);"
                    f" `create_many` reaches {_pct(sdk['cards_per_s'] / floor['cards_per_s'])}"
                    " of it",
                    "–",
                ]
            )
    return rows


def _cpu_bound_note(level: dict[str, Any]) -> str:
    """Said when the baseline used a whole core: then cards/s follow CPU per card."""
    if not level.get("raw_cpu_bound"):
        return ""
    return f"; raw used {level['raw']['client_cores']:.2f} cores: CPU-bound"


def render_latency(latency: dict[str, Any]) -> list[str]:
    error = _error(latency)
    if error:
        return [error]
    params = latency["params"]
    lines = [
        f"Cheap responder (bare asyncio, its own process) answering after"
        f" {params['latency'] * 1000:.0f} ms; each run feeds rows for {params['seconds']:g} s"
        f" then drains; best of {params['repeats']} per implementation. `raw` = aiohttp task"
        " group, same signed call; `sdk` = `create_many`, default transport; `sdk_fast` ="
        " `create_many` on `DefaultAioHttpClient()`; `httpx` = the raw call sent by hand"
        " through httpx on the default transport's sharded pools (no SDK). CPU wait = share"
        " of the run the client was ready but waited for a CPU (`/proc/self/schedstat`):"
        " well above a few percent means a busy machine, and every figure of that run is"
        " pessimistic.",
        "",
    ]
    rows = []
    for level in latency["levels"]:
        for impl in ("raw", "sdk", "sdk_fast", "httpx"):
            item = level.get(impl)
            if item is None:  # recorded before that client was measured
                continue
            rows.append(
                [
                    str(level["concurrency"]),
                    impl,
                    _n(level["ideal_cards_per_s"]),
                    _n(item["cards_per_s"]),
                    _pct(item["vs_raw"]),
                    _n(item["client_cpu_us_per_card"]),
                    f"{item['cpu_vs_raw']:.2f}×",
                    f"{item['client_cores']:.2f}",
                    _pct(item["cpu_wait_share"]),
                    _n(item["involuntary_switches_per_s"]),
                ]
            )
    header = [
        "Concurrency",
        "client",
        "ideal/s",
        "cards/s",
        "vs raw",
        "client CPU µs/card",
        "CPU vs raw",
        "client cores",
        "CPU wait",
        "involuntary switches/s",
    ]
    return lines + _table(header, rows)


def render_construct(construct: dict[str, Any]) -> list[str]:
    error = _error(construct)
    if error:
        return [error]
    lines = [
        f"One process, {construct['params']['runs']} builds of each after one untimed build;"
        " milliseconds per build.",
        "",
    ]
    base = construct["ms"]["httpx.Client"]["median"]
    rows = [
        [
            f"`{name}`",
            f"{ms['median']:.2f}",
            f"{ms['min']:.2f}–{ms['max']:.2f}",
            f"{ms['median'] / base:.2f}×",
        ]
        for name, ms in construct["ms"].items()
    ]
    return lines + _table(["Client", "median ms", "min–max ms", "vs httpx.Client()"], rows)


def render_per_call(per_call: dict[str, Any]) -> list[str]:
    error = _error(per_call)
    if error:
        return [error]
    params = per_call["params"]
    lines = [
        f"{params['rounds']} alternating rounds of {params['calls']} sequential calls per variant"
        f" after {params['warmup']} warm-up calls; medians over rounds. Wall µs/call is what"
        " the caller waits (responder included); CPU µs/call is the client process's own CPU;"
        " the ratio is the median of the per-round SDK/raw ratios.",
        "",
    ]
    rows = []
    for mode in ("async", "sync"):
        data = per_call.get(mode, {})
        if "unavailable" in data:
            rows.append([mode, "–", data["unavailable"], "", "", "", "", "", "", ""])
            continue
        for op in ("query", "create"):
            item = data[op]
            rows.append(
                [
                    mode,
                    op,
                    _n(item["sdk_us"]),
                    _n(item["raw_us"]),
                    _n(item["overhead_us"]),
                    f"{item['ratio']:.3f}",
                    _n(item["sdk_cpu_us"]),
                    _n(item["raw_cpu_us"]),
                    f"{item['sdk_cpu_us'] / item['raw_cpu_us']:.3f}",
                    f"{min(item['round_ratios']):.2f}–{max(item['round_ratios']):.2f}",
                ]
            )
    header = [
        "Facade",
        "Call",
        "SDK µs/call",
        "raw µs/call",
        "overhead µs",
        "SDK/raw",
        "SDK CPU µs",
        "raw CPU µs",
        "CPU SDK/raw",
        "round ratios min–max",
    ]
    return lines + _table(header, rows)


def render_bulk(bulk: dict[str, Any]) -> list[str]:
    error = _error(bulk)
    if error:
        return [error]
    params = bulk["params"]
    lines = [
        f"Sandbox latency {params['latency'] * 1000:.0f} ms; each run feeds rows for "
        f"{params['seconds']:g} s then drains; best of {params['repeats']} runs per"
        " implementation (ABBA order, fresh warm client per run). Cores = CPU seconds per"
        " wall second of the client (this process) and of the sandbox process.",
        "",
    ]
    rows = []
    for level in bulk["levels"]:
        rows.append(
            [
                str(level["concurrency"]),
                _n(level["ideal_cards_per_s"]),
                _n(level["sdk_cards_per_s"]),
                _n(level["raw_cards_per_s"]),
                _pct(level["sdk_vs_ideal"]),
                _pct(level["raw_vs_ideal"]),
                _pct(level["sdk_vs_raw"]),
                f"{level['sdk_client_cores']:.2f} / {level['raw_client_cores']:.2f}",
                f"{level['server_cores']:.2f}",
                f"{_n(level['sdk_client_cpu_us_per_card'])} / "
                f"{_n(level['raw_client_cpu_us_per_card'])}",
            ]
        )
    header = [
        "Concurrency",
        "ideal/s",
        "SDK/s",
        "raw/s",
        "SDK vs ideal",
        "raw vs ideal",
        "SDK vs raw",
        "client cores SDK / raw",
        "sandbox cores (max)",
        "client CPU µs/card SDK / raw",
    ]
    lines += _table(header, rows)
    extra: list[list[str]] = []
    sequential = bulk.get("sequential_sync", {})
    if "unavailable" in sequential:
        extra.append(["Sequential loop over the sync client's `create`", sequential["unavailable"]])
    else:
        extra.append(
            [
                "Sequential loop over the sync client's `create`",
                f"{_n(sequential['cards_per_s'], 1)}/s (ideal "
                f"{_n(sequential['ideal_cards_per_s'], 1)}/s)",
            ]
        )
    journal = bulk.get("with_journal", {})
    extra.append(
        [
            "`create_many` with a journal, concurrency 64",
            f"{_n(journal.get('cards_per_s'), 1)}/s, client CPU "
            f"{_n(journal.get('client_cpu_us_per_card'))} µs/card",
        ]
    )
    ceiling = bulk.get("ceiling_no_latency")
    if ceiling:
        extra.append(
            [
                "Machine ceiling: concurrency 64, sandbox without latency",
                f"SDK {_n(ceiling['sdk_cards_per_s'])}/s, raw {_n(ceiling['raw_cards_per_s'])}/s;"
                f" client {ceiling['sdk_client_cores']:.2f} / {ceiling['raw_client_cores']:.2f}"
                f" cores, sandbox ≤ {ceiling['server_cores']:.2f} cores",
            ]
        )
    return [*lines, "", *_table(["Also measured", "Value"], extra)]


def render_memory(memory: dict[str, Any]) -> list[str]:
    error = _error(memory)
    if error:
        return [error]
    lines = [
        f"Concurrency {memory['params']['concurrency']}, sandbox without latency in its own"
        " process; each campaign in a fresh interpreter (peak = `ru_maxrss`; baseline = after"
        " imports and client creation).",
        "",
    ]
    rows = []
    for run in memory["runs"].values():
        curve = run["rss_samples_mb"]
        # Samples: (cards done, RSS MB[, seconds, load average]).
        shape = " → ".join(f"{sample[1]:.0f}" for sample in curve[:: max(len(curve) // 5, 1)])
        rows.append(
            [
                f"{run['cards']:,}",
                f"{run['baseline_rss_mb']:.1f}",
                f"{run['peak_rss_mb']:.1f}",
                shape,
                _n(run["cards_per_s"]),
                f"{run['journal_mb']:.1f}",
                ", ".join(f"{k} {v:,}" for k, v in run["states"].items()),
            ]
        )
    header = [
        "Cards",
        "baseline MB",
        "peak MB",
        "RSS along the run, MB",
        "cards/s",
        "journal MB",
        "states",
    ]
    return lines + _table(header, rows)


def render_import(imports: dict[str, Any]) -> list[str]:
    error = _error(imports)
    if error:
        return [error]
    lines = [
        f"{imports['params']['runs']} fresh interpreters per package (alternating); time of"
        " `import <package>` after `import httpx`, measured inside the interpreter.",
        "",
    ]
    rows = []
    for package, data in imports["packages"].items():
        if "unavailable" in data:
            rows.append([package, data["unavailable"], "", "", ""])
            continue
        spread = data["beyond_httpx_ms"]
        heavy = ", ".join(
            f"{m['module']} {m['cum_ms']:.0f}" for m in data["heaviest"]["libraries"][:5]
        )
        own = ", ".join(f"{m['module']} {m['self_ms']:.0f}" for m in data["heaviest"]["own"][:3])
        rows.append(
            [
                f"`{package}`",
                f"{spread['median']:.0f} ({spread['min']:.0f}–{spread['max']:.0f})",
                f"{data['httpx_ms']:.0f}",
                heavy,
                own,
            ]
        )
    header = [
        "Package",
        "ms beyond httpx: median (min–max)",
        "httpx ms",
        "heaviest libraries (cumulative ms, -X importtime)",
        "heaviest own modules (self ms)",
    ]
    return lines + _table(header, rows)


def render_profile(profile: dict[str, Any]) -> list[str]:
    error = _error(profile)
    if error:
        return [error]
    lines = ["In-process (httpx.MockTransport, no network): client CPU µs per call.", ""]
    rows = [
        [op, _n(d["sdk_us"]), _n(d["raw_us"]), _n(d["overhead_us"]), f"{d['ratio']:.2f}"]
        for op, d in profile["in_process"].items()
    ]
    lines += _table(["Call", "SDK µs", "raw µs", "SDK overhead µs", "SDK/raw"], rows)
    lines += ["", "Components of the SDK's per-call path, each timed alone (CPU µs per call):", ""]
    lines += _table(
        ["Component", "µs", "note"],
        [[c["component"], _n(c["us"], 1), c["note"]] for c in profile["components"]],
    )
    profiles = profile.get("profiles", {})
    if "unavailable" in profiles:
        return [*lines, "", f"_pyinstrument profiles: {profiles['unavailable']}_"]
    lines += [
        "",
        "pyinstrument, share of sampled wall time by package (built-ins charged to their caller):",
        "",
    ]
    columns = [
        ("per-call query", profiles["per_call"]["query"]),
        ("per-call create", profiles["per_call"]["create"]),
        ("create_many c=64", profiles["create_many"]),
    ]
    packages: list[str] = []
    for _, data in columns:
        for name in data["by_package_pct"]:
            if name not in packages:
                packages.append(name)
    rows = [
        [name, *(f"{data['by_package_pct'].get(name, 0.0):.1f}%" for _, data in columns)]
        for name in packages[:14]
    ]
    lines += _table(["Package", *(title for title, _ in columns)], rows)
    files = [data.get("profile") for _, data in columns if data.get("profile")]
    if files:
        lines += ["", "Full profiles: " + ", ".join(f"`{f}`" for f in files) + "."]
    return lines


def render(results: dict[str, dict[str, Any]], info: dict[str, Any], quick: bool) -> str:
    total = sum(float(r.get("wall_seconds", 0.0)) for r in results.values())
    parts: list[tuple[str, Callable[[dict[str, Any]], list[str]], str]] = [
        ("Per-call overhead", render_per_call, "per_call"),
        ("Latency-bound bulk", render_latency, "latency"),
        ("Bulk throughput", render_bulk, "bulk"),
        ("Memory", render_memory, "memory"),
        ("Import cost", render_import, "import"),
        ("Client construction", render_construct, "construct"),
        ("Profile of the hot path", render_profile, "profile"),
    ]
    lines = [*render_machine(info, results, quick, total), "", *render_targets(results)]
    for title, fn, key in parts:
        if key in results:
            lines += ["", f"#### {title}", "", *fn(results[key])]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- README


def replace_section(text: str, section: str, body: str) -> str:
    """Replace what lies between ``<!-- section:start -->`` and ``<!-- section:end -->``."""
    pattern = re.compile(
        rf"(<!-- {section}:start -->\n).*?(<!-- {section}:end -->)", flags=re.DOTALL
    )
    if not pattern.search(text):
        raise SystemExit(f"the README has no <!-- {section}:start/end --> markers")
    return pattern.sub(lambda m: m.group(1) + "\n" + body + "\n" + m.group(2), text, count=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--readme", type=Path, default=README, help="the README to rewrite")
    parser.add_argument(
        "--save-as", choices=SECTIONS[1:], help="also record the results in this section"
    )
    parser.add_argument(
        "--reuse",
        type=Path,
        help="a results-<name>.json snapshot: scripts left out by --only keep its results",
    )
    parser.add_argument(
        "--only",
        type=lambda text: text.split(","),
        default=[name for name, _ in SCRIPTS],
        help="comma-separated subset: " + ",".join(name for name, _ in SCRIPTS),
    )
    args = parser.parse_args()
    info = machine_info()
    info["load_average"] = os.getloadavg()
    info["date"] = _now()
    info["revision"] = source_revision()
    command = " ".join(["python benchmarks/run_all.py", *sys.argv[1:]])
    command = re.sub(r"--(readme|reuse)\s+(\S*/)?(\S+)", r"--\1 \3", command)
    results: dict[str, dict[str, Any]] = {}
    reused: dict[str, dict[str, Any]] = {}
    if args.reuse is not None:
        snapshot = json.loads(args.reuse.read_text(encoding="utf-8"))
        reused = snapshot["results"]
        info = snapshot["machine"]
    with tempfile.TemporaryDirectory() as directory:
        for name, script in SCRIPTS:
            if name in args.only:
                results[name] = run_script(script, args.quick, Path(directory))
                results[name]["command"] = command
            elif name in reused:
                results[name] = reused[name]
    info.setdefault("command", command)
    body = render(results, info, args.quick)
    text = args.readme.read_text(encoding="utf-8")
    text = replace_section(text, "results", body)
    if args.save_as:
        text = replace_section(text, args.save_as, body)
        snapshot = args.readme.parent / f"results-{args.save_as}.json"
        snapshot.write_text(
            json.dumps({"machine": info, "results": results}, indent=1) + "\n", encoding="utf-8"
        )
    args.readme.write_text(text, encoding="utf-8")
    print(body)
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())

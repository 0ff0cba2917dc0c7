"""Import cost: ``import gatepay_async`` / ``import gatepay_sync`` beyond ``import httpx``.

Each sample is a fresh interpreter that imports httpx, then the package, timing both with
``time.perf_counter`` inside the interpreter; the targets alternate run by run and the
median is reported. One more interpreter per package runs with ``-X importtime`` to list
the modules that cost the most beyond httpx (self time, cumulative over their imports).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from _common import BENCH_DIR, base_parser, child_env, emit, spread

PACKAGES = ("gatepay_async", "gatepay_sync")

_PROBE = """
import time
t0 = time.perf_counter()
import httpx
t1 = time.perf_counter()
import {package}
t2 = time.perf_counter()
import json, sys
print(json.dumps({{"httpx_ms": (t1 - t0) * 1000, "package_ms": (t2 - t1) * 1000,
                  "modules": len(sys.modules)}}))
"""


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=BENCH_DIR,
        check=False,
    )


def sample(package: str) -> dict[str, float] | None:
    completed = _python("-c", _PROBE.format(package=package))
    if completed.returncode != 0:
        return None
    result: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def heaviest_modules(package: str, top: int) -> dict[str, list[dict[str, Any]]]:
    """Where the time beyond httpx goes, from ``-X importtime``.

    ``libraries``: top-level packages first imported by ``package`` (cumulative ms, their
    own imports included); ``own``: the SDK's modules by self time.
    """
    completed = _python("-X", "importtime", "-c", f"import httpx; import {package}")
    lines = completed.stderr.splitlines()
    start = 0  # only what comes after httpx's own import
    for number, line in enumerate(lines):
        if line.rstrip().endswith("| httpx"):
            start = number + 1
    libraries: list[dict[str, Any]] = []
    own: list[dict[str, Any]] = []
    for line in lines[start:]:
        if not line.startswith("import time:") or "[us]" in line:
            continue
        self_part, cumulative_part, name = line.removeprefix("import time:").split("|", 2)
        module = name.strip()
        entry = {
            "module": module,
            "cum_ms": round(int(cumulative_part) / 1000, 1),
            "self_ms": round(int(self_part) / 1000, 1),
        }
        if module.startswith("gatepay"):
            own.append(entry)
        elif "." not in module:
            libraries.append(entry)
    libraries.sort(key=lambda m: float(m["cum_ms"]), reverse=True)
    own.sort(key=lambda m: float(m["self_ms"]), reverse=True)
    return {"libraries": libraries[:top], "own": own[:top]}


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="interpreters per package")
    parser.add_argument("--top", type=int, default=12, help="heaviest modules to list")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.top = 1, 5
    started = time.perf_counter()
    samples: dict[str, list[dict[str, float]]] = {package: [] for package in PACKAGES}
    unavailable: dict[str, str] = {}
    for number in range(args.runs):
        order = PACKAGES if number % 2 == 0 else PACKAGES[::-1]
        for package in order:
            if package in unavailable:
                continue
            result = sample(package)
            if result is None:
                unavailable[package] = f"import {package} fails in a fresh interpreter"
                continue
            samples[package].append(result)
    results: dict[str, Any] = {"params": {"runs": args.runs}, "packages": {}}
    for package in PACKAGES:
        if package in unavailable:
            results["packages"][package] = {"unavailable": unavailable[package]}
            continue
        runs = samples[package]
        results["packages"][package] = {
            "beyond_httpx_ms": {
                k: round(v, 1) for k, v in spread([r["package_ms"] for r in runs]).items()
            },
            "httpx_ms": round(spread([r["httpx_ms"] for r in runs])["median"], 1),
            "modules_loaded": int(runs[-1]["modules"]),
            "heaviest": heaviest_modules(package, args.top),
        }
    results["seconds"] = round(time.perf_counter() - started, 1)
    emit(results, args.json)


if __name__ == "__main__":
    main()

"""Mutation testing of the money- and secret-critical modules (``nox -s mutation``).

Each target module is mutated by cosmic-ray, one mutant at a time, and only the tests
that exercise it are run against each mutant (the noxfile's ``MUTATION_TARGETS`` names
them). A mutant no test kills is either a gap in the tests or equivalent to the code (no
test can tell them apart); the equivalent ones are listed, each with its reason, in
``tests/mutation/equivalent.toml``. The run fails on any survivor not listed there.

cosmic-ray mutates its module in place, so each target runs in a scratch copy of the
project (under ``--out``): the working tree is never touched, and targets can run side
by side (``--jobs``).

Mutants that test nothing are skipped before the run, never counted as killed: a mutant
that does not compile, one that changes only type annotations (never evaluated: the
modules use ``from __future__ import annotations``), and the operator families in
:data:`EXCLUDED_OPERATORS`.

A mutant is keyed by what survives unrelated edits: its module's name (not its folder),
the operator, the text of the mutated line, the mutant's version of it, and its
occurrence among mutants alike in all of these -- never by line number or offset.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the noxfile installs tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT_FILE = ROOT / "tests" / "mutation" / "equivalent.toml"

#: Operator families not run, as regular expressions on cosmic-ray's operator names. Their
#: mutants are either trivially killed (a TypeError on the first call) or equivalent
#: almost everywhere, and they are most of the mutants: running them buys nothing.
EXCLUDED_OPERATORS = (
    # Each arithmetic operator is replaced by its inverse only (as PIT does): "+" <-> "-",
    # "*" <-> "/", "//" <-> "/", "%" -> "//", "**" -> "*". The rest of the cross product
    # ("a + b" -> "a << b", "a | b" -> "a ** b"; "|" is mostly a type union) only raises,
    # or dies to the same tests.
    r"core/ReplaceBinaryOperator_(?!(Add_Sub|Sub_Add|Mul_Div|Div_Mul|FloorDiv_Div"
    r"|Div_FloorDiv|Mod_FloorDiv|Pow_Mul)$)",
    # Identity against order ("x is None" -> "x < None") raises; identity against
    # equality ("x is None" -> "x == None", "a == 'x'" -> "a is 'x'") agrees on None,
    # enum members and interned strings.
    r"core/ReplaceComparisonOperator_(Is|IsNot)_(Lt|LtE|Gt|GtE|Eq|NotEq)$",
    r"core/ReplaceComparisonOperator_(Lt|LtE|Gt|GtE|Eq|NotEq)_(Is|IsNot)$",
)

#: Test outcomes as the report counts them.
KILLED, SURVIVED, TIMEOUT, INCOMPETENT = "killed", "survived", "timeout", "incompetent"


def _module_name(path: str) -> str:
    """A target's key in the equivalents file: its file name, so a move keeps it."""
    return Path(path).stem


# -- choosing the mutants ---------------------------------------------------------------


def _without_annotations(tree: ast.AST) -> str:
    """The module's AST with its annotations dropped, as comparable text."""

    class Strip(ast.NodeTransformer):
        def visit_arg(self, node: ast.arg) -> ast.arg:
            node.annotation = None
            return node

        def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
            node.returns = None
            self.generic_visit(node)
            return node

        def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AsyncFunctionDef:
            node.returns = None
            self.generic_visit(node)
            return node

        def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AnnAssign:
            node.annotation = ast.Constant(value=None)
            self.generic_visit(node)
            return node

    return ast.dump(Strip().visit(tree))


def _spans(source: str, names: Iterable[str]) -> list[tuple[int, int]]:
    """Line spans of the functions and classes called ``names`` (at any depth)."""
    wanted = set(names)
    spans = []
    for node in ast.walk(ast.parse(source)):
        definition = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        if isinstance(node, definition) and node.name in wanted:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            spans.append((first, node.end_lineno or node.lineno))
    missing = wanted - {n.name for n in ast.walk(ast.parse(source)) if hasattr(n, "name")}
    if missing:
        raise SystemExit(f"no function or class named {sorted(missing)} in the target")
    return spans


def _keyword_only_marker(lines: Sequence[str], position: Sequence[int]) -> bool:
    """Whether ``position`` is the bare ``*`` of a signature (``def f(a, *, b)``): cosmic-ray
    reads it as a multiplication and makes it ``/``, which changes nothing for callers
    that pass those arguments by name, as the type checker makes every caller do."""
    text = lines[position[0] - 1][position[1] :]
    return text.startswith("*") and text[1:].lstrip().startswith((",", ")"))


def _skip_reason(
    source: str,
    original_shape: str,
    operator: str,
    occurrence: int,
    position: Sequence[int],
    spans: list[Any],
) -> str | None:
    """Why a mutant is not run (None: it is run)."""
    line, column = position
    from cosmic_ray.mutating import mutate_code
    from cosmic_ray.plugins import get_operator

    if spans and not any(first <= line <= last for first, last in spans):
        return "outside the functions chosen"
    if _keyword_only_marker(source.splitlines(), (line, column)):
        return "keyword-only marker"
    if any(re.match(pattern, operator) for pattern in EXCLUDED_OPERATORS):
        return "excluded operator"
    mutated = mutate_code(source, get_operator(operator)(), occurrence)
    if mutated is None:
        return "no mutation"
    try:
        tree = ast.parse(mutated)
        compile(tree, "<mutant>", "exec")
    except SyntaxError:
        return "does not compile"
    if _without_annotations(tree) == original_shape:
        return "annotations only"
    return None


def _mark_skipped(session: Path, module: Path, only: Sequence[str]) -> dict[str, int]:
    """Mark the mutants not worth running as skipped in cosmic-ray's session."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    source = module.read_text(encoding="utf-8")
    original_shape = _without_annotations(ast.parse(source))
    spans = _spans(source, only) if only else []
    skipped: dict[str, int] = defaultdict(int)
    with use_db(str(session), WorkDB.Mode.open) as work_db:
        for item in list(work_db.pending_work_items):
            (mutation,) = item.mutations
            reason = _skip_reason(
                source,
                original_shape,
                mutation.operator_name,
                mutation.occurrence,
                mutation.start_pos,
                spans,
            )
            if reason is not None:
                skipped[reason] += 1
                result = WorkResult(output=reason, worker_outcome=WorkerOutcome.SKIPPED)
                work_db.set_result(item.job_id, result)
    return dict(skipped)


# -- running one target -----------------------------------------------------------------


def _copy_project(destination: Path) -> None:
    """The project's files (tracked or not ignored) copied to ``destination``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    if destination.exists():
        shutil.rmtree(destination)
    for name in filter(None, listed):
        source = ROOT / os.fsdecode(name)
        if source.is_file():
            target = destination / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _cosmic_ray(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - cosmic-ray, from this interpreter
        [sys.executable, "-m", "cosmic_ray.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


#: Tests not run against mutants: one event loop and one database are enough, as the
#: mutated modules touch neither (trio and PostgreSQL are the suite's second ones).
DESELECTED = "not trio and not postgresql"


#: pytest for a mutant: stop at the first failure; without the plugins that only report
#: (their imports took most of each run's time), nor the HTTP mocking plugins, whose
#: fixtures no test of a mutated module uses.
PYTEST = (
    *(sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"),
    *("-p", "no:ddtrace", "-p", "no:hypothesispytest"),
    *("-p", "no:pytest_httpx", "-p", "no:respx"),
)


def _test_command(tests: Sequence[str]) -> list[str]:
    return [sys.executable, "scripts/mutation.py", "--run-tests", *tests]


#: pytest under a Hypothesis profile without deadlines or health checks (a loaded machine
#: must not fail a test) that draws the same examples every run (a mutant's result does
#: not depend on luck).
_DETERMINISTIC_HYPOTHESIS = (
    "import sys, hypothesis, pytest\n"
    "hypothesis.settings.register_profile('mutation', deadline=None, derandomize=True,"
    " database=None, suppress_health_check=list(hypothesis.HealthCheck))\n"
    "hypothesis.settings.load_profile('mutation')\n"
    "sys.exit(pytest.main(sys.argv[1:]))\n"
)


def run_tests(tests: Sequence[str]) -> int:
    """pytest on each test file in turn, stopping at the first that fails: most mutants
    die in the first file and never pay for collecting the others."""
    for test in tests:
        command = [*PYTEST, "-k", DESELECTED, test]
        if "hypothesis" in Path(test).read_text(encoding="utf-8"):
            command[1:3] = ["-c", _DETERMINISTIC_HYPOTHESIS]
        code = subprocess.run(command, check=False).returncode  # noqa: S603 - pytest
        if code != 0:
            return code
    return 0


def run_target(spec: str, tests: Sequence[str], out: Path) -> dict[str, Any]:
    """Mutate one target in a scratch copy; its results, also written to ``out``."""
    path, _, only_text = spec.partition("::")
    only = [name for name in only_text.split(",") if name]
    name = _module_name(path)
    tree = out / "trees" / name
    _copy_project(tree)
    # The copy must be what the tests import, or every mutant would survive.
    where = subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-c",
            f"import {Path(path).with_suffix('').as_posix().replace('/', '.')}"
            " as m; print(m.__file__)",
        ],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if Path(where).resolve() != (tree / path).resolve():
        raise SystemExit(f"{name}: the tests would import {where}, not the mutated copy")

    started = time.monotonic()
    baseline = subprocess.run(  # noqa: S603
        _test_command(tests), cwd=tree, capture_output=True, text=True, check=False
    )
    baseline_seconds = time.monotonic() - started
    if baseline.returncode != 0:
        raise SystemExit(f"{name}: the tests fail unmutated:\n{baseline.stdout[-3000:]}")
    config = tree / "mutation.toml"
    config.write_text(
        "[cosmic-ray]\n"
        f"module-path = {json.dumps(path)}\n"
        # A mutant that makes its tests far slower (a loop that never ends) is killed.
        f"timeout = {max(60.0, round(baseline_seconds * 5, 1))}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(_shell_join(_test_command(tests)))}\n"
        '[cosmic-ray.distributor]\nname = "local"\n',
        encoding="utf-8",
    )
    session = tree / "session.sqlite"
    session.unlink(missing_ok=True)
    for args in (("init", str(config), str(session)),):
        done = _cosmic_ray(*args, cwd=tree)
        if done.returncode != 0:
            raise SystemExit(f"{name}: cosmic-ray {args[0]} failed:\n{done.stderr}")
    skipped = _mark_skipped(session, tree / path, only)
    done = _cosmic_ray("exec", str(config), str(session), cwd=tree)
    if done.returncode != 0:
        raise SystemExit(f"{name}: cosmic-ray exec failed:\n{done.stderr}")
    dump = _cosmic_ray("dump", str(session), cwd=tree)
    mutants = _mutants(dump.stdout, (tree / path).read_text(encoding="utf-8"))
    result = {
        "module": name,
        "path": path,
        "only": only,
        "tests": list(tests),
        "baseline_seconds": round(baseline_seconds, 1),
        "seconds": round(time.monotonic() - started, 1),
        "skipped": skipped,
        "mutants": mutants,
    }
    (out / f"{name}.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    shutil.rmtree(tree)
    return result


def _shell_join(command: Sequence[str]) -> str:
    import shlex

    return shlex.join(command)


def _mutants(dump: str, source: str) -> list[dict[str, Any]]:
    """Each mutant that ran: its key (operator, line text, occurrence), outcome and diff."""
    lines = source.splitlines()
    ran = []
    for text in dump.splitlines():
        item, result = json.loads(text)
        if result is None or result["worker_outcome"] in ("skipped", "no-test"):
            continue
        (mutation,) = item["mutations"]
        if _keyword_only_marker(lines, mutation["start_pos"]):  # runs made before the filter
            continue
        outcome = result["test_outcome"]
        if result["output"] == "timeout":
            outcome = TIMEOUT
        diff = result["diff"] or ""
        ran.append(
            {
                "operator": mutation["operator_name"].removeprefix("core/"),
                "position": mutation["start_pos"],
                "line": lines[mutation["start_pos"][0] - 1].strip(),
                "outcome": outcome,
                "diff": diff,
            }
        )
    return _numbered(ran)


def _numbered(mutants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``mutants`` in file order, each with its mutated text and its occurrence."""
    for mutant in mutants:
        mutant["mutant"] = _mutated_lines(mutant["diff"])
    mutants.sort(key=lambda mutant: (mutant["position"], mutant["mutant"]))
    seen: dict[tuple[str, str, str], int] = defaultdict(int)
    for mutant in mutants:
        key = (mutant["operator"], mutant["line"], mutant["mutant"])
        mutant["occurrence"] = seen[key]
        seen[key] += 1
    return mutants


def _mutated_lines(diff: str) -> str:
    """The mutant's version of the lines it changes, as the diff shows them, stripped."""
    added = [
        line[1:].strip()
        for line in diff.splitlines()
        if line.startswith("+") and not line.startswith("+++")
    ]
    return " / ".join(added)


# -- the report -------------------------------------------------------------------------


Key = tuple[str, str, str, str, int]


def _key(module: str, entry: Mapping[str, Any]) -> Key:
    return (
        module,
        str(entry["operator"]),
        str(entry["line"]),
        str(entry["mutant"]),
        int(entry.get("occurrence", 0)),
    )


def load_equivalents(path: Path = EQUIVALENT_FILE) -> dict[Key, str]:
    """The listed equivalent mutants: key -> reason."""
    if not path.exists():
        return {}
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    listed = {}
    for entry in data.get("equivalent", []):
        reason = str(entry.get("reason", "")).strip()
        if not reason:
            raise SystemExit(f"{path}: an entry without a reason: {entry}")
        listed[_key(str(entry["module"]), entry)] = reason
    return listed


def _toml_entry(module: str, mutant: Mapping[str, Any]) -> str:
    return (
        "[[equivalent]]\n"
        f"module = {json.dumps(module)}\n"
        f"operator = {json.dumps(mutant['operator'])}\n"
        f"line = {json.dumps(mutant['line'])}\n"
        f"mutant = {json.dumps(mutant['mutant'])}\n"
        + (f"occurrence = {mutant['occurrence']}\n" if mutant["occurrence"] else "")
        + 'reason = "..."\n'
    )


def report(results: Sequence[dict[str, Any]], out: Path) -> bool:
    """Write ``out``/summary.md and survivors.md; whether every survivor is listed."""
    listed = load_equivalents()
    rows, survivors, seen_keys = [], [], set()
    for result in sorted(results, key=lambda r: str(r["module"])):
        module = str(result["module"])
        source = ROOT / str(result["path"])
        mutants = list(result["mutants"])
        if source.exists():  # results of runs made before the keyword-only filter
            lines = source.read_text(encoding="utf-8").splitlines()
            mutants = [m for m in mutants if not _keyword_only_marker(lines, m["position"])]
        result["mutants"] = _numbered(mutants)
        counts: dict[str, int] = defaultdict(int)
        for mutant in result["mutants"]:
            key = _key(module, mutant)
            seen_keys.add(key)
            if mutant["outcome"] == SURVIVED:
                if key in listed:
                    counts["equivalent"] += 1
                else:
                    counts["surviving"] += 1
                    survivors.append((module, mutant))
            else:
                counts[str(mutant["outcome"])] += 1
        run = len(result["mutants"])
        detected = counts[KILLED] + counts[TIMEOUT] + counts[INCOMPETENT]
        score = 100.0 * (detected + counts["equivalent"]) / run if run else 100.0
        rows.append(
            f"| `{module}` | {run} | {detected} | {counts[TIMEOUT]} | {counts['equivalent']}"
            f" | {counts['surviving']} | {sum(result['skipped'].values())}"
            f" | {score:.1f}% | {result['seconds']:.0f} s |"
        )
    modules_run = {str(r["module"]) for r in results}
    stale = [key for key in listed if key[0] in modules_run and key not in seen_keys]
    summary = [
        "# Mutation testing",
        "",
        "| module | mutants run | killed | of which timeouts | listed equivalent"
        " | surviving | skipped (not run) | score | time |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "Score: killed and listed-equivalent mutants over mutants run.",
    ]
    if stale:
        summary += ["", "Listed equivalents that no longer match a surviving mutant:", ""]
        summary += [f"- `{m}` {op}: `{line}` -> `{new}` #{n}" for m, op, line, new, n in stale]
    (out / "summary.md").write_text("\n".join(summary) + "\n", encoding="utf-8")
    details = ["# Surviving mutants not listed as equivalent", ""]
    for module, mutant in survivors:
        details += [
            f"## `{module}` {mutant['operator']} line {mutant['position'][0]}",
            "",
            "```diff",
            mutant["diff"].strip(),
            "```",
            "",
            "```toml",
            _toml_entry(module, mutant).strip(),
            "```",
            "",
        ]
    (out / "survivors.md").write_text("\n".join(details), encoding="utf-8")
    print("\n".join(summary))
    if survivors:
        print(f"\n{len(survivors)} surviving mutants not listed: see {out / 'survivors.md'}")
    return not survivors


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="MODULE=TEST[,TEST...]",
        help="a module to mutate (MODULE::func,func for some of its functions) and its tests",
    )
    parser.add_argument("--only", nargs="*", default=(), help="run only these module names")
    parser.add_argument("--jobs", type=int, default=2, help="targets mutated side by side")
    parser.add_argument("--out", type=Path, default=ROOT / "mutation-report")
    parser.add_argument(
        "--report", action="store_true", help="only write the report of the results in --out"
    )
    parser.add_argument("--run-tests", nargs="+", metavar="TEST", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_tests:  # the command each mutant is tested with
        return run_tests(args.run_tests)
    if args.report:
        done = [json.loads(path.read_text(encoding="utf-8")) for path in args.out.glob("*.json")]
        if args.only:
            done = [result for result in done if result["module"] in args.only]
        return 0 if report(done, args.out) else 1
    targets = {}
    for text in args.target:
        spec, _, tests = text.partition("=")
        if not args.only or _module_name(spec.partition("::")[0]) in args.only:
            targets[spec] = [test for test in tests.split(",") if test]
    if not targets:
        parser.error("no target chosen")
    args.out.mkdir(parents=True, exist_ok=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_target, s, t, args.out) for s, t in targets.items()]
        results = []
        for future in concurrent.futures.as_completed(futures):
            result = future.result()
            print(f"{result['module']}: {len(result['mutants'])} mutants in {result['seconds']} s")
            results.append(result)
    return 0 if report(results, args.out) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Generate the sync facade (``gatepay_sync``) and the sync tests from their async sources.

``gatepay_async`` is the real implementation; ``gatepay_sync`` and ``tests/_sync`` are made
from it here, line by line, with an ordered list of regex substitutions, and are never
edited by hand.

Usage (from any directory)::

    python scripts/unasync.py           # (re)write the generated files, report what changed
    python scripts/unasync.py --check   # write nothing; exit 1 and show a diff on any drift

Exit status: 0 up to date (or written), 1 drift found by ``--check``, 2 an error that
stops generation (a missing required source, a rule no generated file used, ``anyio`` or
another async-only name left in sync code). On an error nothing is written.

How one line is transformed, in this order:

1. a relative import whose meaning would change at the target location (say
   ``from .._errors import X`` leaving ``gatepay_async/resources/``) becomes absolute;
2. dotted names of generated modules are mapped to their targets (``gatepay_async._client``
   -> ``gatepay_sync._client``, ``tests._async`` -> ``tests._sync``; derived from FILES and
   DIRS, so there is nothing to maintain);
3. RULES, then one rule per SYNC_NAMES entry, are applied in order; a rule whose
   replacement is ``None`` deletes the line, and a line that a rule empties is dropped.

Every rule must match somewhere in a full run, otherwise the run fails naming the rule:
delete rules that nothing needs and add them back when code needs them (the leftover
check below then says so). After the transformation each generated line is checked:
``anyio`` (use the ``gatepay_async._synchronization`` helpers instead) and names that are
still async (``await``, ``AsyncFoo``, ``async_foo``, ``__aenter__``...) are errors, naming
the source file and line, unless the line carries ``# unasync: keep`` (the marker only
waives these checks; the line is still transformed).

Finally the imports of each generated file are re-sorted with ``ruff check --select I001
--fix`` (renaming modules changes their sort order). The generated code is not
``ruff format``-ed: removing ``await`` shortens lines, so the generated directories are
meant to be excluded from ``ruff format``; they still pass ``ruff check`` and mypy.
"""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import NamedTuple

# --------------------------------------------------------------------------------------
# Configuration: what to generate.
# --------------------------------------------------------------------------------------

#: (source file, target file), repo-relative posix paths.
FILES: list[tuple[str, str]] = [
    ("gatepay_async/_client.py", "gatepay_sync/_client.py"),
    ("gatepay_async/_sending.py", "gatepay_sync/_sending.py"),
    ("gatepay_async/__init__.py", "gatepay_sync/__init__.py"),
]

#: (source dir, target dir, glob): each matching source file gives a target of the same
#: relative path (``__init__.py`` included).
DIRS: list[tuple[str, str, str]] = [
    ("gatepay_async/resources", "gatepay_sync/resources", "*.py"),
    ("tests/_async", "tests/_sync", "*.py"),
]

#: Sources (files or dirs) that may be missing: they are skipped, and targets left from
#: them are stale. Any other missing source is an error.
OPTIONAL: list[str] = []

#: Ordered (regex, replacement) rules, applied to each line after the module mapping.
#: Specific rules first. A replacement of ``None`` deletes the line.
RULES: list[tuple[str, str | None]] = [
    # tests: anyio runs the async tests; the sync copies need neither marker nor fixture
    (r"^\s*@pytest\.mark\.anyio\s*$", None),
    # async-only names: the fast asyncio transport has no sync twin
    (r"\bDefaultAioHttpClient\b", None),
    (r"\bASYNC_HTTP_CLIENTS\b", "HTTP_CLIENTS"),
    # the packages
    (r"^(\s*)from gatepay_async import ", r"\1from gatepay_sync import "),
    # our classes and the libraries' async twins
    (r"\bAsyncGatePay\b", "GatePay"),
    (r"\bAsyncGiftCards\b", "GiftCards"),
    (r"\bAsyncBulkIssuer\b", "BulkIssuer"),
    (r"\bAsyncBulkRun\b", "BulkRun"),
    (r"\bAsyncShardedTransport\b", "ShardedTransport"),
    (r"\bAsyncSender\b", "Sender"),
    (r"\bAsyncClient\b", "Client"),
    (r"\bAsyncRetrying\b", "Retrying"),
    (r"\bAsyncIterator\b", "Iterator"),
    (r"\bAsyncIterable\b", "Iterable"),
    # the language
    (r"\basync\s+def\b", "def"),
    (r"\basync\s+with\b", "with"),
    (r"\basync\s+for\b", "for"),
    (r"\bawait\s+", ""),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\b__aiter__\b", "__iter__"),
    (r"\b__anext__\b", "__next__"),
    (r"\baclose\b", "close"),
    (r"\banext\(", "next("),
    (r"\bStopAsyncIteration\b", "StopIteration"),
    (r"\baiter_raw\b", "iter_raw"),
    (r"\bhandle_async_request\b", "handle_request"),
]

#: Names from ``gatepay_async._synchronization`` (or ``_deadline``) that have a sync twin there:
#: ``AsyncFoo`` -> ``Foo`` and ``async_foo`` -> ``foo``. One rule each, after RULES.
SYNC_NAMES: list[str] = [
    "AsyncLock",
    "AsyncWorkerPool",
    "AsyncRateLimiter",
    "AsyncCancelShield",
    "AsyncGroupCommit",
    "AsyncChannel",
    "async_iterate",
    "async_sleep",
    "async_monotonic",
    "AsyncAttemptDeadline",
]

#: A generated line with this marker may mention anyio or keep an async-only name.
KEEP_MARKER = "# unasync: keep"

#: Must not appear in generated code (the sync facade does not run on an event loop).
ANYIO = re.compile(r"\banyio\b")

#: Async-only names that must not survive the rules.
LEFTOVER = re.compile(
    r"\bawait\b|\basync\s+(?:def|with|for)\b|\bAsync[A-Z]\w*|\basync_\w+"
    r"|\b__a(?:enter|exit|iter|next)__\b|\baclose\b|\bStopAsyncIteration\b"
)

GENERATOR = "scripts/unasync.py"
HEADER = "# Generated by " + GENERATOR + " from {source}. Do not edit."
HEADER_RE = re.compile(r"^# Generated by " + re.escape(GENERATOR) + r" from (.+)\. Do not edit\.$")

#: Lines of diff that --check prints at most.
MAX_DIFF_LINES = 300

REPO_ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------------------
# Transformation of text.
# --------------------------------------------------------------------------------------


class Rule(NamedTuple):
    """One substitution; ``replacement`` None deletes the line."""

    pattern: re.Pattern[str]
    replacement: str | None

    def describe(self) -> str:
        target = "(delete the line)" if self.replacement is None else f"'{self.replacement}'"
        return f"'{self.pattern.pattern}' -> {target}"


class ModuleMapping(NamedTuple):
    """A generated module or package, by dotted name."""

    source: str
    target: str


class UnasyncError(Exception):
    """Generation cannot go on; the message says where and why."""


def compile_rules(
    rules: Sequence[tuple[str, str | None]], sync_names: Sequence[str] = ()
) -> list[Rule]:
    """Compile RULES-style pairs, then one rule per SYNC_NAMES-style name."""
    compiled = [Rule(re.compile(pattern), replacement) for pattern, replacement in rules]
    for name in sync_names:
        for prefix in ("Async", "async_"):
            if name.startswith(prefix) and len(name) > len(prefix):
                compiled.append(Rule(re.compile(rf"\b{name}\b"), name[len(prefix) :]))
                break
        else:
            raise ValueError(f"SYNC_NAMES entry {name!r} starts with neither Async nor async_")
    return compiled


def module_name(path: str) -> str:
    """``a/b/c.py`` -> ``a.b.c``; ``a/b/__init__.py`` -> ``a.b``; ``a/b`` -> ``a.b``."""
    parts = list(PurePosixPath(path).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def module_mappings(
    files: Sequence[tuple[str, str]], dirs: Sequence[tuple[str, str, str]]
) -> list[ModuleMapping]:
    """The dotted-name mapping implied by the configured file and directory pairs."""
    # A package's own __init__ is not mapped as a module: that would rename every shared
    # module inside the package too. The RULES map ``from gatepay_async import`` instead.
    pairs = [
        ModuleMapping(module_name(s), module_name(t))
        for s, t in files
        if PurePosixPath(s).name != "__init__.py"
    ]
    pairs += [ModuleMapping(module_name(s), module_name(t)) for s, t, _ in dirs]
    # longest first, so that a package never shadows one of its modules
    return sorted({p for p in pairs if p.source != p.target}, key=lambda p: -len(p.source))


DEFAULT_RULES: list[Rule] = compile_rules(RULES, SYNC_NAMES)
DEFAULT_MODULES: list[ModuleMapping] = module_mappings(FILES, DIRS)


def map_module(name: str, modules: Sequence[ModuleMapping]) -> str:
    """The target name of a dotted module name (unchanged if it is not generated)."""
    for mapping in modules:
        if name == mapping.source or name.startswith(mapping.source + "."):
            return mapping.target + name[len(mapping.source) :]
    return name


def _map_modules_in_line(line: str, modules: Sequence[ModuleMapping]) -> str:
    for mapping in modules:
        pattern = r"(?<![\w.])" + re.escape(mapping.source) + r"(?!\w)"
        line = re.sub(pattern, mapping.target, line)
    return line


def unasync_line(
    line: str,
    rules: Sequence[Rule] = DEFAULT_RULES,
    modules: Sequence[ModuleMapping] = DEFAULT_MODULES,
    used: set[int] | None = None,
) -> str | None:
    """Transform one line (without its newline); None means the line is deleted.

    ``used`` collects the indexes of the rules that matched.
    """
    result = _map_modules_in_line(line, modules)
    for index, rule in enumerate(rules):
        if not rule.pattern.search(result):
            continue
        if used is not None:
            used.add(index)
        if rule.replacement is None:
            return None
        result = rule.pattern.sub(rule.replacement, result)
    if not result.strip() and line.strip():
        return None  # a rule emptied it (a parameter on a line of its own)
    return result


_RELATIVE_IMPORT = re.compile(r"^(\s*from\s+)(\.+)([\w.]*)(\s+import\b)")


def _package_of(path: str) -> str:
    name = module_name(path)
    return name if PurePosixPath(path).name == "__init__.py" else name.rpartition(".")[0]


def _resolve(package: str, dots: int, name: str) -> str | None:
    parts = package.split(".") if package else []
    if dots - 1 > len(parts):
        return None
    base = parts[: len(parts) - (dots - 1)]
    return ".".join([*base, name] if name else base) or None


def _fix_relative_import(
    line: str, source: str, target: str, modules: Sequence[ModuleMapping]
) -> str:
    """Make a relative import absolute if it would mean something else at the target."""
    match = _RELATIVE_IMPORT.match(line)
    if match is None:
        return line
    dots, name = len(match.group(2)), match.group(3)
    meant = _resolve(_package_of(source), dots, name)
    if meant is None:
        return line
    wanted = map_module(meant, modules)
    if _resolve(_package_of(target), dots, name) == wanted:
        return line
    return match.group(1) + meant + match.group(4) + line[match.end() :]


def unasync_text(
    text: str,
    source: str,
    *,
    target: str | None = None,
    rules: Sequence[Rule] = DEFAULT_RULES,
    modules: Sequence[ModuleMapping] = DEFAULT_MODULES,
    used: set[int] | None = None,
) -> str:
    """The generated file for ``text`` read from ``source`` (repo-relative, posix).

    The result starts with the header line. ``target`` (the generated file's path) lets
    relative imports be fixed; without it they are left as they are. Raises UnasyncError
    naming each source line where anyio or an async-only name would be generated.
    """
    out = [HEADER.format(source=source)]
    problems: list[str] = []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines[-1] == "":
        lines.pop()  # the final newline (or an empty source)
    for number, line in enumerate(lines, start=1):
        if target is not None:
            line = _fix_relative_import(line, source, target, modules)
        new = unasync_line(line, rules, modules, used)
        if new is None:
            continue
        if KEEP_MARKER not in new:
            if ANYIO.search(new):
                problems.append(
                    f"{source}:{number}: 'anyio' would be in the sync code: {new.strip()!r}"
                    " (use the gatepay_async._synchronization helpers, or mark the line"
                    f" '{KEEP_MARKER}')"
                )
            leftover = LEFTOVER.search(new)
            if leftover:
                problems.append(
                    f"{source}:{number}: {leftover.group(0)!r} would be in the sync code:"
                    f" {new.strip()!r} (add a rule or SYNC_NAMES entry to {GENERATOR},"
                    f" or mark the line '{KEEP_MARKER}')"
                )
        out.append(new)
    if problems:
        raise UnasyncError("\n".join(problems))
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------
# A run over a tree.
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """What to generate under ``root``; the defaults are the constants above."""

    root: Path
    files: Sequence[tuple[str, str]] = field(default_factory=lambda: list(FILES))
    dirs: Sequence[tuple[str, str, str]] = field(default_factory=lambda: list(DIRS))
    optional: Sequence[str] = field(default_factory=lambda: list(OPTIONAL))
    rules: Sequence[Rule] = field(default_factory=lambda: list(DEFAULT_RULES))
    sort_imports: bool = True


@dataclass
class Result:
    """What a run would produce: target -> content, stale targets, errors."""

    outputs: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # target -> source
    stale: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _pairs(config: Config, errors: list[str]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for source, target in config.files:
        if (config.root / source).is_file():
            pairs.append((source, target))
        elif source not in config.optional:
            errors.append(f"{source}: required source is missing (or list it in OPTIONAL)")
    for source_dir, target_dir, pattern in config.dirs:
        directory = config.root / source_dir
        if not directory.is_dir():
            if source_dir not in config.optional:
                errors.append(f"{source_dir}: required source directory is missing")
            continue
        for path in sorted(directory.glob(pattern)):
            if path.is_file():
                relative = path.relative_to(directory).as_posix()
                pairs.append((f"{source_dir}/{relative}", f"{target_dir}/{relative}"))
    return pairs


def _generated_source(path: Path) -> str | None:
    """The source named in a generated file's header, or None if it has none."""
    try:
        with path.open(encoding="utf-8") as handle:
            first = handle.readline().rstrip("\r\n")
    except (OSError, UnicodeDecodeError):
        return None
    match = HEADER_RE.match(first)
    return match.group(1) if match else None


def _stale(config: Config, targets: set[str]) -> list[str]:
    """Generated files in the target directories that this run does not produce."""
    scans = {(PurePosixPath(t).parent.as_posix(), "*.py") for _, t in config.files}
    scans |= {(t, pattern) for _, t, pattern in config.dirs}
    stale: set[str] = set()
    for directory, pattern in sorted(scans):
        for path in (config.root / directory).glob(pattern):
            relative = path.relative_to(config.root).as_posix()
            if relative not in targets and path.is_file() and _generated_source(path):
                stale.add(relative)
    return sorted(stale)


def _ruff_command() -> list[str]:
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    found = shutil.which("ruff")
    if found is None:
        raise UnasyncError("ruff is needed to sort the imports of generated files")
    return [found]


def sort_imports(text: str, target: Path, cwd: Path) -> str:
    """Re-sort imports the way ``ruff check`` wants them (module renames reorder them)."""
    command = [
        *_ruff_command(),
        "check",
        "--select",
        "I001",
        "--fix",
        "--exit-zero",
        "--quiet",
        "--no-cache",
        "--stdin-filename",
        str(target),
        "-",
    ]
    done = subprocess.run(  # noqa: S603 - our own fixed command line
        command, input=text, capture_output=True, text=True, cwd=cwd, check=False
    )
    if done.returncode != 0:
        raise UnasyncError(f"ruff failed on {target.name}: {done.stderr.strip()}")
    return done.stdout


def generate(config: Config) -> Result:
    """Compute every target (writing nothing) and collect all errors."""
    result = Result()
    pairs = _pairs(config, result.errors)
    modules = module_mappings(config.files, config.dirs)
    used: set[int] = set()
    for source, target in pairs:
        text = (config.root / source).read_text(encoding="utf-8")
        try:
            content = unasync_text(
                text, source, target=target, rules=config.rules, modules=modules, used=used
            )
            if config.sort_imports:
                content = sort_imports(content, config.root / target, config.root)
        except UnasyncError as exc:
            result.errors.append(str(exc))
            continue
        result.outputs[target] = content
        result.sources[target] = source
    for index, rule in enumerate(config.rules):
        if index not in used:
            result.errors.append(
                f"rule {rule.describe()} was used by no generated file:"
                f" delete it from RULES or SYNC_NAMES in {GENERATOR}"
            )
    result.stale = _stale(config, set(result.outputs))
    return result


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def check(config: Config, result: Result) -> list[str]:
    """Diff lines describing how the tree differs from ``result``; empty if up to date."""
    lines: list[str] = []
    for target, content in result.outputs.items():
        current = _read(config.root / target)
        if current == content:
            continue
        if current is None:
            lines.append(f"missing: {target} (from {result.sources[target]})")
        lines += difflib.unified_diff(
            (current or "").splitlines(),
            content.splitlines(),
            fromfile="/dev/null" if current is None else f"a/{target}",
            tofile=f"b/{target}",
            lineterm="",
        )
    for target in result.stale:
        source = _generated_source(config.root / target)
        lines.append(f"stale: {target} (its source {source} is not generated any more)")
    return lines


def write(config: Config, result: Result) -> list[str]:
    """Bring the tree in line with ``result``; return one message per change."""
    changes: list[str] = []
    for target, content in result.outputs.items():
        path = config.root / target
        current = _read(path)
        if current == content:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        changes.append(f"{'created' if current is None else 'updated'} {target}")
    for target in result.stale:
        (config.root / target).unlink()
        changes.append(f"deleted {target} (stale)")
    return changes


def run(config: Config, *, check_only: bool) -> int:
    """Generate (or check) per ``config``, printing what happens; the exit status."""
    try:
        result = generate(config)
    except UnasyncError as exc:
        result = Result(errors=[str(exc)])
    if result.errors:
        for error in result.errors:
            print(f"error: {error}", file=sys.stderr)
        print(f"{GENERATOR}: failed; nothing was written", file=sys.stderr)
        return 2
    if check_only:
        lines = check(config, result)
        if not lines:
            print(f"{GENERATOR}: {len(result.outputs)} generated files are up to date")
            return 0
        for line in lines[:MAX_DIFF_LINES]:
            print(line)
        if len(lines) > MAX_DIFF_LINES:
            print(f"... {len(lines) - MAX_DIFF_LINES} more lines of diff")
        print(f"{GENERATOR}: generated files are out of date; run python {GENERATOR}")
        return 1
    changes = write(config, result)
    for change in changes:
        print(change)
    print(f"{GENERATOR}: {len(result.outputs)} files generated, {len(changes)} changed")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 with a diff if a generated file is out of date",
    )
    args = parser.parse_args(argv)
    return run(Config(root=REPO_ROOT), check_only=args.check)


if __name__ == "__main__":
    sys.exit(main())

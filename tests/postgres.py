"""A throwaway PostgreSQL server for the tests: Debian's binaries, a temp folder, a free port.

`make test` installs Debian's `postgresql` package (the Makefile's postgres target). The
server runs as the `postgres` user when the tests run as root (PostgreSQL refuses root), listens
on 127.0.0.1 only, trusts local connections and is stopped (`pg_ctl stop -m immediate`) and
deleted at the end. SW_TEST_POSTGRES=off skips the PostgreSQL variants instead.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

from services.common.settings import SERVICES

USER = "sw"


def postgres_bindir() -> Path | None:
    """The newest Debian PostgreSQL bin folder (/usr/lib/postgresql/N/bin), if installed."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    return Path(found[-1]).parent if found else None


def wanted() -> bool:
    """Whether the PostgreSQL variants run (SW_TEST_POSTGRES=off skips them)."""
    return os.environ.get("SW_TEST_POSTGRES", "on").lower() not in ("off", "0", "false", "no")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    """A running server: its port; databases are made with `create_databases`."""

    port: int
    folder: Path
    run_as: str | None

    def url(self, database: str, driver: str = "psycopg") -> str:
        """A SQLAlchemy URL of one database."""
        return f"postgresql+{driver}://{USER}@127.0.0.1:{self.port}/{database}"

    def create_databases(self, *names: str) -> None:
        """Create empty databases (autocommit: CREATE DATABASE refuses a transaction)."""
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user={USER} dbname=postgres", autocommit=True
        ) as conn:
            for name in names:
                conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]

    def service_template(self, prefix: str) -> str:
        """An SW_DATABASE_URL template whose databases (one a service) exist."""
        self.create_databases(*(f"{prefix}_{s}" for s in SERVICES))
        return self.url(f"{prefix}_{{service}}", driver="asyncpg")


def _run(argv: list[str], run_as: str | None) -> subprocess.CompletedProcess[str]:
    if run_as:
        argv = ["runuser", "-u", run_as, "--", *argv]
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Start a fresh server in a temp folder; stop and delete it on exit."""
    bindir = postgres_bindir()
    if bindir is None:
        raise RuntimeError(
            "PostgreSQL is not installed: `make test` installs Debian's postgresql package "
            "(apt-get install postgresql); SW_TEST_POSTGRES=off skips these tests"
        )
    run_as = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="sw-pg-"))
    data = folder / "data"
    if run_as:
        entry = pwd.getpwnam(run_as)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    port = _free_port()
    init = _run(
        [str(bindir / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8"],
        run_as,
    )
    if init.returncode:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {init.stdout}{init.stderr}")
    options = (
        f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={folder} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data)]
    start = _run([*pg_ctl, "-o", options, "-l", str(folder / "log"), "-w", "start"], run_as)
    try:
        if start.returncode:
            log = (folder / "log").read_text(errors="replace") if (folder / "log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {start.stdout}{start.stderr}{log}")
        yield PostgresServer(port, folder, run_as)
    finally:
        _run([*pg_ctl, "-m", "immediate", "stop"], run_as)
        shutil.rmtree(folder, ignore_errors=True)

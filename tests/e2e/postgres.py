"""A throwaway Postgres cluster on a free loopback port, owned by the test and stopped by PID."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from tests.e2e.processes import ChildProcess, free_port, wait_until

PG_USER = "dagster"
PG_PASSWORD = "e2e-only-password"


def find_postgres_bin_dir() -> Path | None:
    """``initdb`` on PATH, else the newest Debian-style ``/usr/lib/postgresql/<v>/bin``."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(os.path.realpath(on_path)).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    return Path(candidates[-1]).parent if candidates else None


def _unprivileged_user() -> str | None:
    """Postgres refuses to run as root; when we are root, run it as ``postgres`` (or ``nobody``)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("running as root and no unprivileged user to run Postgres as")


@dataclass
class PostgresCluster:
    bin_dir: Path
    root: Path
    port: int
    server: ChildProcess

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def dsn(self, db_name: str = "postgres") -> str:
        return (
            f"host={self.host} port={self.port} user={PG_USER} "
            f"password={PG_PASSWORD} dbname={db_name} connect_timeout=5"
        )

    def url(self, db_name: str) -> str:
        return f"postgresql+psycopg2://{PG_USER}:{PG_PASSWORD}@{self.host}:{self.port}/{db_name}"

    def create_database(self, name: str) -> None:
        conn = psycopg2.connect(self.dsn())
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()

    def stop(self) -> None:
        # SIGINT is Postgres' "fast" shutdown: abort sessions, checkpoint, exit.
        self.server.stop(sig=signal.SIGINT, grace_s=20)
        shutil.rmtree(self.root, ignore_errors=True)


def start_postgres(bin_dir: Path, log_dir: Path) -> PostgresCluster:
    user = _unprivileged_user()
    # Not under pytest's tmp dir: that is private to root (0700) and Postgres may run as another user.
    root = Path(tempfile.mkdtemp(prefix="sfload-e2e-pg-"))
    data_dir, password_file = root / "data", root / "password"
    password_file.write_text(PG_PASSWORD + "\n")
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (root, password_file):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    subprocess.run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(data_dir),
            "-U",
            PG_USER,
            f"--pwfile={password_file}",
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        timeout=120,
        user=user,
    )
    port = free_port()
    # The postmaster itself is our child (pg_ctl would daemonise it), so we can stop it by PID.
    server = ChildProcess(
        "postgres",
        [
            str(bin_dir / "postgres"),
            "-D",
            str(data_dir),
            "-k",
            str(root),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=300",
        ],
        log_dir,
        user=user,
    )
    cluster = PostgresCluster(bin_dir=bin_dir, root=root, port=port, server=server)
    try:
        wait_until(
            lambda: _accepts_connections(cluster),
            60,
            "Postgres to accept connections",
            alive=[server],
        )
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _accepts_connections(cluster: PostgresCluster) -> bool:
    try:
        psycopg2.connect(cluster.dsn()).close()
    except psycopg2.OperationalError:
        return False
    return True

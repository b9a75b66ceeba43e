"""The production shape on one machine: Postgres, a gRPC code server, ``dagster-daemon`` and
``dagster-webserver``, all children of the test, sharing a DAGSTER_HOME whose dagster.yaml is
``deploy/dagster.yaml`` itself (Postgres settings come from the environment, as in production)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dagster import DagsterRunStatus, RunsFilter
from dagster._core.errors import DagsterUserCodeUnreachableError
from dagster._grpc.client import DagsterGrpcClient
from dagster_postgres import PostgresRunStorage

from tests.e2e.graphql_client import DagsterGraphQL
from tests.e2e.postgres import PG_PASSWORD, PG_USER, PostgresCluster
from tests.e2e.processes import ChildProcess, free_port, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO_ROOT / "deploy"
BIN_DIR = Path(sys.executable).parent

IN_PROGRESS = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]


@dataclass
class CodeLocation:
    """What the gRPC code server loads: ``dagster api grpc -m <module> -d <working_dir>``."""

    module: str
    name: str
    working_dir: Path = REPO_ROOT
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass
class DagsterStack:
    home: Path
    env: dict[str, str]
    location: CodeLocation
    graphql: DagsterGraphQL
    run_storage: PostgresRunStorage
    children: list[ChildProcess]

    @property
    def url(self) -> str:
        return self.graphql.url

    def dagster_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN_DIR / "dagster"), *args],
            env=self.env,
            cwd=self.home,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def set_pool_limit(self, pool: str, limit: int) -> None:
        """The documented one-time deploy step, run exactly as an operator would."""
        self.dagster_cli("instance", "concurrency", "set", pool, str(limit))

    def in_progress_run_ids(self) -> set[str]:
        records = self.run_storage.get_run_records(RunsFilter(statuses=IN_PROGRESS))
        return {record.dagster_run.run_id for record in records}

    def assert_children_alive(self) -> None:
        for child in self.children:
            assert child.is_running(), f"{child.name} died:\n{child.log_tail()}"

    def stop(self) -> None:
        # Webserver and daemon first, so nothing launches new runs while the code server goes away.
        for child in reversed(self.children):
            child.stop()
        self.run_storage.dispose()


def render_dagster_home(home: Path) -> Path:
    """The instance config under test is the deploy file, byte for byte."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DEPLOY_DIR / "dagster.yaml", home / "dagster.yaml")
    return home


def instance_env(postgres: PostgresCluster, db_name: str, home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DAGSTER_HOME": str(home),
            "DAGSTER_PG_HOST": postgres.host,
            "DAGSTER_PG_PORT": str(postgres.port),
            "DAGSTER_PG_USER": PG_USER,
            "DAGSTER_PG_PASSWORD": PG_PASSWORD,
            "DAGSTER_PG_DB": db_name,
            "PYTHONUNBUFFERED": "1",
            # Starting a run worker on a saturated 2-core CI box can exceed the 60 s default.
            "DAGSTER_GRPC_TIMEOUT_SECONDS": "180",
        }
    )
    return env


def start_stack(
    postgres: PostgresCluster, db_name: str, home: Path, location: CodeLocation, log_dir: Path
) -> DagsterStack:
    postgres.create_database(db_name)
    render_dagster_home(home)
    env = instance_env(postgres, db_name, home)
    env.update(location.env)
    grpc_port, web_port = free_port(), free_port()
    workspace = _write_grpc_workspace(home, grpc_port, location.name, env)
    children: list[ChildProcess] = []
    stack: DagsterStack | None = None
    try:
        children.append(_start_code_server(location, grpc_port, env, log_dir))
        children.append(
            ChildProcess(
                "dagster-daemon",
                [str(BIN_DIR / "dagster-daemon"), "run", "-w", str(workspace)],
                log_dir,
                env=env,
                cwd=home,
            )
        )
        children.append(
            ChildProcess(
                "dagster-webserver",
                [
                    str(BIN_DIR / "dagster-webserver"),
                    "-w",
                    str(workspace),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(web_port),
                ],
                log_dir,
                env=env,
                cwd=home,
            )
        )
        graphql = DagsterGraphQL(f"http://127.0.0.1:{web_port}", location.name)
        stack = DagsterStack(
            home=home,
            env=env,
            location=location,
            graphql=graphql,
            run_storage=PostgresRunStorage(postgres.url(db_name), should_autocreate_tables=False),
            children=children,
        )
        wait_until(
            graphql.location_loaded, 240, "the code location in the webserver", 1.0, children
        )
        wait_until(graphql.daemons_healthy, 180, "all daemons healthy", 2.0, children)
        return stack
    except BaseException:
        if stack is not None:
            stack.stop()
        else:
            for child in reversed(children):
                child.stop()
        raise


def _write_grpc_workspace(home: Path, port: int, location_name: str, env: dict[str, str]) -> Path:
    """``deploy/workspace.grpc.yaml`` with the code server's address from the environment."""
    env["DAGSTER_GRPC_HOST"] = "127.0.0.1"
    env["DAGSTER_GRPC_PORT"] = str(port)
    env["DAGSTER_LOCATION_NAME"] = location_name
    target = home / "workspace.yaml"
    shutil.copyfile(DEPLOY_DIR / "workspace.grpc.yaml", target)
    return target


def _start_code_server(
    location: CodeLocation, port: int, env: dict[str, str], log_dir: Path
) -> ChildProcess:
    server = ChildProcess(
        "code-server",
        [
            str(BIN_DIR / "dagster"),
            "api",
            "grpc",
            "-m",
            location.module,
            "-d",
            str(location.working_dir),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "--location-name",
            location.name,
        ],
        log_dir,
        env=env,
        cwd=location.working_dir,
    )
    wait_until(
        lambda: _grpc_pings(port),
        180,
        "the gRPC code server",
        1.0,
        [server],
    )
    return server


def _grpc_pings(port: int) -> bool:
    client = DagsterGrpcClient(port=port, host="127.0.0.1")
    try:
        client.ping("ready?")
    except DagsterUserCodeUnreachableError:
        return False
    return True

"""Fixtures for the end-to-end tier: one throwaway Postgres per session, one Dagster stack per module.

Every process is a child of the test, bound to 127.0.0.1 on a free port, and stopped by PID in the
fixture finalizers (which also run when a test fails). Logs of every child are kept under
``test-artifacts/e2e/`` for post-mortems.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.emulator_process import SfloadDeployment, start_emulator
from tests.e2e.postgres import PostgresCluster, find_postgres_bin_dir, start_postgres
from tests.e2e.stack import REPO_ROOT, CodeLocation, DagsterStack, start_stack

ARTIFACTS = REPO_ROOT / "test-artifacts"
EMULATOR_RECORDS = 5000


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = ARTIFACTS / "e2e"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def postgres_cluster(artifacts_dir: Path) -> Iterator[PostgresCluster]:
    bin_dir = find_postgres_bin_dir()
    if bin_dir is None:
        pytest.skip("Postgres server binaries (initdb, postgres) not found; .ci/run installs them")
    cluster = start_postgres(bin_dir, artifacts_dir)
    try:
        yield cluster
    finally:
        cluster.stop()


def stack_for(
    postgres: PostgresCluster, artifacts_dir: Path, db_name: str, location: CodeLocation
) -> Iterator[DagsterStack]:
    log_dir = artifacts_dir / db_name
    log_dir.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix=f"sfload-e2e-{db_name}-"))
    stack = start_stack(postgres, db_name, home, location, log_dir)
    try:
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def fixture_stack(postgres_cluster: PostgresCluster, artifacts_dir: Path) -> Iterator[DagsterStack]:
    location = CodeLocation(module="tests.e2e.fixture_location", name="e2e_fixture")
    shutil.rmtree(artifacts_dir / "fixture_location", ignore_errors=True)
    yield from stack_for(postgres_cluster, artifacts_dir, "fixture_location", location)


@pytest.fixture(scope="module")
def sfload_deployment(
    postgres_cluster: PostgresCluster, artifacts_dir: Path
) -> Iterator[SfloadDeployment]:
    """The real code location on the production shape, against the emulator as its org."""
    log_dir = artifacts_dir / "sfload_location"
    shutil.rmtree(log_dir, ignore_errors=True)
    log_dir.mkdir(parents=True)
    data_dir = Path(tempfile.mkdtemp(prefix="sfload-e2e-emulator-"))
    emulator = start_emulator(data_dir, log_dir, records=EMULATOR_RECORDS)
    try:
        location = CodeLocation(
            module="orchestration.definitions", name="sfload", env=emulator.salesforce_env()
        )
        for stack in stack_for(postgres_cluster, artifacts_dir, "sfload_location", location):
            yield SfloadDeployment(stack=stack, emulator=emulator)
    finally:
        emulator.stop()
        shutil.rmtree(data_dir, ignore_errors=True)

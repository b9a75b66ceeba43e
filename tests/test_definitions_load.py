"""The code location loads, and every name the README promises exists in it."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import pytest

from orchestration.definitions import defs

pytestmark = pytest.mark.dagster

# The README's "Dagster objects" section mirrors this list.
README_NAMES = {
    "assets": ["salesforce_opportunities"],
    "asset_checks": [
        "no_missing_records",
        "no_rejected_records",
        "all_ranges_have_no_missing_records",
    ],
    "jobs": ["opportunities_job"],
    "schedules": ["opportunities_nightly_schedule"],
    "sensors": ["opportunity_ranges_sensor", "opportunity_drift_sensor"],
    "partitions": ["opportunity_ranges"],
    "resources": ["salesforce", "data_cloud"],
    "pools": ["salesforce_bulk"],
}


def test_definitions_validate() -> None:
    dg.Definitions.validate_loadable(defs)


def test_every_readme_name_exists() -> None:
    repo = defs.get_repository_def()
    assert defs.resolve_job_def("opportunities_job").name == "opportunities_job"
    assert sorted(s.name for s in repo.schedule_defs) == README_NAMES["schedules"]
    assert sorted(s.name for s in repo.sensor_defs) == sorted(README_NAMES["sensors"])
    asset = defs.resolve_assets_def("salesforce_opportunities")
    assert asset.partitions_def.name in README_NAMES["partitions"]
    assert {spec.key.name for spec in asset.check_specs} | {
        key.name for key in repo.asset_graph.asset_check_keys
    } >= set(README_NAMES["asset_checks"])
    assert set(README_NAMES["resources"]) <= set(repo.get_top_level_resources())
    assert [asset.op.pool] == README_NAMES["pools"]


def test_job_runs_one_range_with_its_partitioned_checks_only() -> None:
    job = defs.resolve_job_def("opportunities_job")
    assert job.partitions_def is not None and job.partitions_def.name == "opportunity_ranges"
    assert sorted(node.name for node in job.nodes) == [
        "salesforce_opportunities",
        "salesforce_opportunities_no_missing_records",
        "salesforce_opportunities_no_rejected_records",
    ]


README_KINDS = {
    "asset": "assets",
    "asset check": "asset_checks",
    "job": "jobs",
    "schedule": "schedules",
    "sensor": "sensors",
    "partitions": "partitions",
    "resource": "resources",
    "pool": "pools",
}


def _readme_objects() -> dict[str, list[str]]:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Dagster objects", 1)[1].split("\n## ", 1)[0]
    named: dict[str, list[str]] = {}
    for kind, name in re.findall(r"^\| ([a-z ]+) \| `([a-z_]+)` \|", section, flags=re.MULTILINE):
        named.setdefault(README_KINDS[kind], []).append(name)
    return named


def test_readme_names_exactly_the_objects_checked_here() -> None:
    assert {kind: sorted(names) for kind, names in _readme_objects().items()} == {
        kind: sorted(names) for kind, names in README_NAMES.items()
    }

"""The one code location: ``dagster dev -w workspace.yaml`` loads ``defs`` from here."""

from __future__ import annotations

import dagster as dg

from assets.checks import (
    all_ranges_have_no_missing_records,
    no_missing_records,
    no_rejected_records,
)
from assets.opportunities import salesforce_opportunities
from orchestration.jobs import opportunities_job
from orchestration.resources import build_resources
from orchestration.schedules import opportunities_nightly_schedule
from orchestration.sensors import opportunity_drift_sensor, opportunity_ranges_sensor

defs = dg.Definitions(
    assets=[salesforce_opportunities],
    asset_checks=[no_missing_records, no_rejected_records, all_ranges_have_no_missing_records],
    jobs=[opportunities_job],
    schedules=[opportunities_nightly_schedule],
    sensors=[opportunity_ranges_sensor, opportunity_drift_sensor],
    resources=build_resources(),
    # One range per run: its load and check steps run in the run worker itself, not one freshly
    # spawned Python process each (several seconds of imports apiece on a small machine).
    executor=dg.in_process_executor,
)

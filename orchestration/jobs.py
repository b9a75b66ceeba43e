"""``opportunities_job``: one range per run, with the partitioned checks of the asset."""

from __future__ import annotations

import dagster as dg

from assets.checks import no_missing_records, no_rejected_records
from assets.opportunities import salesforce_opportunities

opportunities_job = dg.define_asset_job(
    name="opportunities_job",
    selection=dg.AssetSelection.assets(salesforce_opportunities).without_checks()
    | dg.AssetSelection.checks(no_missing_records, no_rejected_records),
    description="Loads one ExternalId range into Salesforce and checks it.",
)

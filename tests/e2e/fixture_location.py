"""A throwaway code location with the shape of the real one (dynamic partitions, a pool, one run per
partition), so the harness is proven independently of the Salesforce code."""

# No `from __future__ import annotations`: Dagster resolves the Config annotation at runtime.

import os
import time

import dagster as dg

PARTITIONS_DEF_NAME = "fixture_ranges"
POOL = "salesforce_bulk"

fixture_ranges = dg.DynamicPartitionsDefinition(name=PARTITIONS_DEF_NAME)


class LoadConfig(dg.Config):
    # Long enough that runs overlap even when starting a run worker is slow (a busy CI machine).
    seconds: float = 10.0


@dg.asset(
    partitions_def=fixture_ranges,
    pool=POOL,
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
)
def fixture_load(context: dg.AssetExecutionContext, config: LoadConfig) -> dg.MaterializeResult:
    started = time.time()
    time.sleep(config.seconds)
    return dg.MaterializeResult(
        metadata={
            "partition": context.partition_key,
            "pid": os.getpid(),
            "started": started,
            "finished": time.time(),
        }
    )


# One process per run: the run worker executes the single step itself (no step subprocess).
defs = dg.Definitions(assets=[fixture_load], executor=dg.in_process_executor)

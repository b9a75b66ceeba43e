"""The asset's own building blocks (checkpoint, ledger, dead letter, quota, key order) and the asset."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from assets.adapters import MAX_READBACK_PREFIXES, readback_prefixes, readback_soql
from assets.checkpoint import Checkpoint, StreamLedger, checkpoint_observation, read_checkpoint
from assets.dead_letter import (
    KIND_QUARANTINED,
    KIND_REJECTED,
    DeadLetterStore,
    counts_by_code,
    dead_letter_table,
    read_dead_letter,
)
from assets.partitions import key_order_requests
from assets.quota import (
    LoadForecast,
    QuotaExceeded,
    allowances_from_limits,
    forecast_load,
    guard_quota,
)
from assets.ranges import KeyRange

unit = pytest.mark.unit


@unit
def test_forecast_counts_internal_batches_per_job() -> None:
    forecast = forecast_load(rows=250_000, rows_per_job=100_000, polls_per_job=4)
    assert forecast.jobs == 3
    assert forecast.internal_batches == 10 + 10 + 5
    assert forecast.api_calls == 3 * (6 + 4) + 5 + 5
    assert forecast_load(0, 100_000) == LoadForecast(0, 0, 0, 0)


@unit
def test_quota_guard_stops_before_the_reserve_with_a_clear_message() -> None:
    limits = {
        "DailyBulkApiBatches": {"Max": 15_000, "Remaining": 1_600},
        "DailyApiRequests": {"Max": 100_000, "Remaining": 90_000},
        "Other": 3,
    }
    allowances = allowances_from_limits(limits)
    assert set(allowances) == {"DailyBulkApiBatches", "DailyApiRequests"}
    guard_quota(LoadForecast(1, 1, 100, 50), allowances, reserve_fraction=0.1)
    with pytest.raises(QuotaExceeded, match=r"DailyBulkApiBatches.*1,600.*reserve of 1,500"):
        guard_quota(LoadForecast(1, 1, 101, 50), allowances, reserve_fraction=0.1)


@unit
@pytest.mark.parametrize(
    ("current", "wanted", "delete", "add"),
    [
        ([], ["b", "a"], [], ["a", "b"]),
        (["a", "b"], ["a", "b"], [], []),
        (["a", "b", "c"], ["a", "c"], ["b"], []),
        (["a", "c"], ["a", "b", "c"], ["c"], ["b", "c"]),
        (["c", "a"], ["a", "c", "d"], ["c", "a"], ["a", "c", "d"]),
        (["a", "b"], ["a", "b", "z"], [], ["z"]),
    ],
)
def test_key_changes_restore_key_order(current, wanted, delete, add) -> None:
    changes = key_order_requests(current, wanted)
    assert (changes.delete, changes.add) == (delete, add)
    after = [k for k in current if k not in changes.delete] + changes.add
    assert after == sorted(wanted)


def _quarantined(ids: list[str | None]) -> pa.Table:
    return dead_letter_table(ids, KIND_QUARANTINED, ["DUPLICATE_ID"] * len(ids), ["dup"] * len(ids))


@unit
def test_ledger_counts_rows_up_to_each_job_boundary() -> None:
    ledger = StreamLedger()
    ledger.record(pa.array(["a", "b", "c", "d"]), _quarantined(["b"]))
    ledger.record(pa.array(["e", "f"]), _quarantined(["f"]))
    first = ledger.consume_through("c")
    assert (first.rows, first.rows_quarantined) == (3, 1)
    second = ledger.consume_through("e")
    assert (second.rows, second.rows_quarantined) == (2, 0)
    rest = ledger.consume_all()
    assert (rest.rows, rest.quarantined["external_id"].to_pylist()) == (1, ["f"])


@unit
def test_checkpoint_round_trips_through_an_observation() -> None:
    cp = Checkpoint().with_submitted("750A", "m", 10, 1).with_submitted("750B", "z", 5, 0)
    cp = cp.with_finished("750A", "m")
    assert cp.open_jobs == ("750B",)
    assert (cp.last_submitted_id, cp.last_finished_id, cp.rows_read) == ("z", "m", 15)
    key = dg.AssetKey("salesforce_opportunities")
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(checkpoint_observation(key, "p1", cp))
        assert read_checkpoint(instance, key, "p1") == cp
        assert read_checkpoint(instance, key, "p2") == Checkpoint()


@unit
def test_dead_letter_parts_are_idempotent_and_sealed_per_run(tmp_path: Path) -> None:
    store = DeadLetterStore(tmp_path, "a/b..c")
    rejected = dead_letter_table(["x", "y"], KIND_REJECTED, ["E1", "E2"], ["m", "m"], "750A")
    store.write_part("rejected-750A", rejected)
    store.write_part("rejected-750A", rejected)  # collected twice after a resume
    store.write_part("quarantined-750A", _quarantined(["q"]))
    path, table = store.seal("run1")
    assert path is not None and path.name == "run1.parquet"
    assert table.num_rows == 3
    assert counts_by_code(read_dead_letter(path), KIND_REJECTED) == {"E1": 1, "E2": 1}
    assert store.pending_table().num_rows == 0


@st.composite
def range_and_id(draw: st.DrawFn) -> tuple[KeyRange, str]:
    texts = st.text(min_size=1, max_size=8)
    a, b, x = draw(texts), draw(texts), draw(st.text(max_size=10))
    lo, hi = sorted((a, b))
    assume(lo < hi and lo <= x < hi)
    return KeyRange(lo, hi), x


@unit
@given(range_and_id())
def test_readback_prefixes_cover_every_id_of_the_range(case: tuple[KeyRange, str]) -> None:
    key_range, external_id = case
    prefixes = readback_prefixes(key_range)
    if prefixes is not None:
        assert any(external_id.startswith(p) for p in prefixes)
        assert len(prefixes) <= MAX_READBACK_PREFIXES


@unit
def test_readback_query_narrows_bounded_ranges_and_quotes_prefixes() -> None:
    assert readback_prefixes(KeyRange("SAP-4000024", "SAP-4000054")) == ["SAP-40000"]
    assert readback_prefixes(KeyRange("CRM-9", "F")) == ["C", "D", "E", "F"]
    assert readback_prefixes(KeyRange(None, "F")) is None
    assert readback_prefixes(KeyRange("A", None)) is None
    assert readback_prefixes(KeyRange("!", "~")) is None  # too many first characters
    soql_text = readback_soql(KeyRange("a%_'x1", "a%_'x2"))
    assert soql_text.endswith(r"AND (External_Id__c LIKE 'a\%\_\'x%')")

"""The messy profile: exact counts per kind, determinism, and the exact Bulk API outcome per error code."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest

from emulator import profiles
from emulator.config import EmulatorConfig
from emulator.datacloud.generate import generate_table
from emulator.server import EmulatorServer
from tests.emulator.conftest import IngestClient

RECORDS = 5_000
SEED = 20

# Data Cloud column -> Opportunity field, the subset this test sends (no pre-flight: rows go as is).
SENT = {
    "ExternalId__c": "External_Id__c",
    "ssot__Name__c": "Name",
    "ssot__OpportunityStageId__c": "StageName",
    "ssot__CloseDate__c": "CloseDate",
    "ssot__TotalAmount__c": "Amount",
    "ssot__Description__c": "Description",
    "ssot__NextStep__c": "NextStep",
}


@pytest.fixture(scope="module")
def messy() -> pa.Table:
    return generate_table(RECORDS, SEED, "messy")


def bulk_csv(table: pa.Table) -> bytes:
    columns = [
        table[source].cast(pa.date32()) if field == "CloseDate" else table[source]
        for source, field in SENT.items()
    ]
    sink = io.BytesIO()
    options = pacsv.WriteOptions(quoting_style="needed")
    pacsv.write_csv(pa.table(columns, names=list(SENT.values())), sink, options)
    return sink.getvalue()


def error_codes(failed_csv: str) -> Counter[str]:
    rows = list(csv.DictReader(io.StringIO(failed_csv)))
    return Counter(row["sf__Error"].split(":", 1)[0] for row in rows)


# ---------------------------------------------------------------------------------- the table


@pytest.mark.unit
def test_same_seed_same_table_other_seed_other_table(messy: pa.Table) -> None:
    assert generate_table(RECORDS, SEED, "messy").equals(messy)
    assert not generate_table(RECORDS, SEED + 1, "messy").equals(messy)
    assert messy.num_rows == RECORDS


@pytest.mark.unit
def test_counts_follow_the_documented_rates() -> None:
    counts = profiles.messy_counts(RECORDS)

    assert counts == {k.name: int(RECORDS * k.rate) for k in profiles.MESSY_KINDS}
    assert sum(counts.values()) + counts["duplicate_id"] + counts["case_duplicate_id"] <= RECORDS
    assert profiles.messy_counts(3) == dict.fromkeys(profiles.KIND_NAMES, 0)


@pytest.mark.unit
def test_each_kind_appears_exactly_as_often_as_counted(messy: pa.Table) -> None:
    counts = profiles.messy_counts(RECORDS)
    ids = messy["ExternalId__c"]
    names = messy["ssot__Name__c"]
    present = pc.drop_null(ids).filter(pc.not_equal(pc.drop_null(ids), ""))
    lowered = pc.utf8_lower(present)

    blank = pc.sum(pc.or_(pc.is_null(ids), pc.equal(pc.fill_null(ids, ""), ""))).as_py()
    exact_dups = len(present) - len(pc.unique(present))
    case_dups = len(pc.unique(present)) - len(pc.unique(lowered))
    long_names = pc.sum(pc.greater(pc.utf8_length(names), 120)).as_py()
    null_required = sum(
        messy[c].null_count
        for c in ("ssot__Name__c", "ssot__OpportunityStageId__c", "ssot__CloseDate__c")
    )
    years = pc.year(messy["ssot__CloseDate__c"])
    bad_dates = pc.sum(pc.greater_equal(years, 10_000)).as_py()
    bad_amounts = pc.sum(
        pc.greater_equal(messy["ssot__TotalAmount__c"].cast(pa.float64()), 1e16)
    ).as_py()
    padded = pc.sum(pc.starts_with(pc.fill_null(names, ""), "  ")).as_py()
    special = pc.sum(
        pc.match_substring_regex(pc.fill_null(names, ""), r"[\t\n\"]|[^\x00-\x7f]")
    ).as_py()

    assert blank == counts["blank_id"]
    assert exact_dups == counts["duplicate_id"]
    assert case_dups == counts["case_duplicate_id"]
    assert long_names == counts["long_name"]
    assert null_required == counts["null_required"]
    assert bad_dates == counts["invalid_date"]
    assert bad_amounts == counts["invalid_amount"]
    assert padded == counts["padded_spaces"]
    assert special >= counts["special_chars"] * 0.75  # some templates only carry a comma


@pytest.mark.unit
def test_external_ids_are_lumpy_not_a_counter(messy: pa.Table) -> None:
    ids = pc.drop_null(messy["ExternalId__c"])
    prefixes = Counter(i.as_py().split("-")[0].split("_")[0] for i in ids[:2000])
    lengths = set(pc.utf8_length(ids).to_pylist())

    assert len(prefixes) >= 4
    assert len(lengths) >= 4


@pytest.mark.unit
def test_expected_outcomes_add_up() -> None:
    counts = profiles.messy_counts(RECORDS)
    loader = profiles.expected_loader_outcome(counts, RECORDS)
    bulk = profiles.expected_salesforce_outcome(counts, RECORDS)

    held = sum(loader["rejected"].values()) + sum(loader["quarantined"].values())
    assert loader["loaded"] + held == RECORDS
    assert loader["quarantined"]["DUPLICATE_EXTERNAL_ID"] == 2 * counts["duplicate_id"]
    assert bulk["loaded"] + sum(bulk["errors"].values()) == RECORDS


# ---------------------------------------------------------------------------------- through Bulk


@pytest.fixture(scope="module")
def messy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    data_dir: Path = tmp_path_factory.mktemp("messy")
    profiles.seed(data_dir, RECORDS, SEED, "messy")
    with EmulatorServer(EmulatorConfig(data_dir=data_dir)) as server:
        yield server


@pytest.mark.emulator
def test_bulk_upsert_rejects_exactly_the_documented_rows(
    messy_server: EmulatorServer, messy: pa.Table
) -> None:
    ingest = IngestClient(messy_server)
    expected = profiles.expected_salesforce_outcome(profiles.messy_counts(RECORDS), RECORDS)

    job_id, info = ingest.run(bulk_csv(messy))
    codes = error_codes(ingest.results(job_id, "failedResults"))

    assert info["state"] == "JobComplete"
    assert info["numberRecordsProcessed"] == RECORDS
    assert dict(codes) == expected["errors"]
    assert info["numberRecordsFailed"] == sum(expected["errors"].values())
    stats = ingest.session.get(f"{messy_server.url}/__emulator__/stats", timeout=20).json()
    assert stats["rows"]["Opportunity"] == expected["loaded"]
    assert stats["rows"]["datacloud"] == RECORDS
    assert stats["datacloud"]["profile"]["counts"] == profiles.messy_counts(RECORDS)

    # Case-only twins sent again, one of each pair per job, update the record their pair made.
    first, second = _split_case_twins(messy)
    created = []
    for part in (first, second):
        job_id, info = ingest.run(bulk_csv(messy.take(pa.array(part))))
        assert info["numberRecordsFailed"] == 0
        results = ingest.results(job_id, "successfulResults")
        created += [row["sf__Created"] for row in csv.DictReader(io.StringIO(results))]

    assert len(created) == 2 * profiles.messy_counts(RECORDS)["case_duplicate_id"]
    assert set(created) == {"false"}
    stats = ingest.session.get(f"{messy_server.url}/__emulator__/stats", timeout=20).json()
    assert stats["rows"]["Opportunity"] == expected["loaded"]


def _split_case_twins(table: pa.Table) -> tuple[list[int], list[int]]:
    """Row positions of ids that differ only by case from another row's: first and second seen."""
    ids = table["ExternalId__c"].to_pylist()
    by_lower: dict[str, set[str]] = {}
    for external_id in ids:
        if external_id:
            by_lower.setdefault(external_id.lower(), set()).add(external_id)
    twins = {key for key, spellings in by_lower.items() if len(spellings) > 1}
    first: list[int] = []
    second: list[int] = []
    seen: set[str] = set()
    for position, external_id in enumerate(ids):
        if external_id and external_id.lower() in twins:
            key = external_id.lower()
            (second if key in seen else first).append(position)
            seen.add(key)
    return first, second


@pytest.mark.emulator
def test_loader_path_quarantines_and_salesforce_rejects_exactly_as_documented(
    tmp_path: Path, messy: pa.Table
) -> None:
    """Our pre-flight + mapping + CSV encoder on the messy rows, then one Bulk job."""
    from assets import mapping, preflight
    from assets.ranges import KeyRange
    from resources.salesforce.csv_encoding import encode_batch

    expected = profiles.expected_loader_outcome(profiles.messy_counts(RECORDS), RECORDS)
    source = messy.select(mapping.OPPORTUNITY_MAPPING.source_columns).combine_chunks()
    batch = source.to_batches()[0]
    ambiguous = preflight.find_ambiguous_keys(
        [batch.column(mapping.OPPORTUNITY_MAPPING.key_column)]
    )
    split = preflight.prepare_batch(batch, ambiguous, KeyRange(None, None))

    assert preflight.quarantine_counts(split.quarantined) == expected["quarantined"]

    with EmulatorServer(EmulatorConfig(data_dir=tmp_path / "loader")) as server:
        ingest = IngestClient(server)
        job_id, info = ingest.run(encode_batch(split.clean))
        codes = error_codes(ingest.results(job_id, "failedResults"))

    assert dict(codes) == expected["rejected"]
    assert info["numberRecordsProcessed"] - info["numberRecordsFailed"] == expected["loaded"]

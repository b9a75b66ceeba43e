"""The Opportunity object's per-row upsert behaviour, through real Bulk API 2.0 jobs over HTTPS."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from ingest_wire import IngestClient

from emulator.config import EmulatorConfig
from emulator.server import EmulatorServer

pytestmark = pytest.mark.emulator

HEADER = "External_Id__c,Name,StageName,CloseDate"


def outcome(ingest: IngestClient, data: str, **create: Any) -> tuple[list[dict[str, str]], ...]:
    """Run a job; its successful and failed rows as dicts (header names as uploaded)."""
    job_id, info = ingest.run(data, **create)
    assert info["state"] == "JobComplete", info
    successful = read_csv(ingest.results(job_id, "successfulResults"))
    failed = read_csv(ingest.results(job_id, "failedResults"))
    assert info["numberRecordsProcessed"] == len(successful) + len(failed)
    assert info["numberRecordsFailed"] == len(failed)
    return successful, failed


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def errors_by_key(failed: list[dict[str, str]], key: str = "External_Id__c") -> dict[str, str]:
    return {row[key]: row["sf__Error"] for row in failed}


def stored(
    ingest: IngestClient, columns: str = '"External_Id__c", "Name"'
) -> list[tuple[Any, ...]]:
    with ingest.server.emulator.store.cursor() as cur:
        return cur.execute(
            f'SELECT {columns} FROM "Opportunity" ORDER BY "External_Id__c"'  # noqa: S608
        ).fetchall()


# -- create vs update --------------------------------------------------------------------------


def test_upsert_creates_then_updates_the_same_record(ingest: IngestClient) -> None:
    created, _ = outcome(ingest, f"{HEADER}\nK-1,First,Prospecting,2025-01-15\n")
    updated, _ = outcome(ingest, "External_Id__c,Name\nK-1,Second\n")
    assert created[0]["sf__Created"] == "true"
    assert updated[0]["sf__Created"] == "false"
    assert updated[0]["sf__Id"] == created[0]["sf__Id"]
    assert stored(ingest) == [("K-1", "Second")]


def test_record_ids_are_18_characters_with_the_opportunity_prefix(ingest: IngestClient) -> None:
    created, _ = outcome(
        ingest, f"{HEADER}\nI-1,A,Prospecting,2025-01-15\nI-2,B,Prospecting,2025-01-15\n"
    )
    ids = [row["sf__Id"] for row in created]
    assert len(set(ids)) == 2
    assert all(len(i) == 18 and i.startswith("006") and i.isalnum() for i in ids)


def test_external_ids_match_case_insensitively_by_default(ingest: IngestClient) -> None:
    created, _ = outcome(ingest, f"{HEADER}\nAbC-1,Mixed,Prospecting,2025-01-15\n")
    updated, _ = outcome(ingest, "External_Id__c,Name\nabc-1,Lower\n")
    assert (updated[0]["sf__Id"], updated[0]["sf__Created"]) == (created[0]["sf__Id"], "false")
    assert stored(ingest) == [("abc-1", "Lower")]


@pytest.fixture
def case_sensitive_ingest(tmp_path: Path) -> Iterator[IngestClient]:
    config = EmulatorConfig(data_dir=tmp_path / "emulator", external_id_case_sensitive=True)
    with EmulatorServer(config) as server:
        client = IngestClient(server)
        yield client
        client.session.close()


def test_case_sensitive_external_ids_are_different_records(
    case_sensitive_ingest: IngestClient,
) -> None:
    data = f"{HEADER}\nAbC-1,Mixed,Prospecting,2025-01-15\nabc-1,Lower,Prospecting,2025-01-15\n"
    created, failed = outcome(case_sensitive_ingest, data)
    assert failed == []
    assert [row["sf__Created"] for row in created] == ["true", "true"]
    assert stored(case_sensitive_ingest) == [("AbC-1", "Mixed"), ("abc-1", "Lower")]


def test_several_existing_matches_fail_with_duplicate_external_id(ingest: IngestClient) -> None:
    with ingest.server.emulator.store.cursor() as cur:  # e.g. loaded while case-sensitive
        cur.execute(
            'INSERT INTO "Opportunity" ("Id", "External_Id__c", "Name") VALUES '
            "('006EM9000000002YAA', 'dup-1', 'a'), ('006EM9000000001YAA', 'DUP-1', 'b')"
        )
    _, failed = outcome(ingest, "External_Id__c,Name\nDup-1,c\n")
    assert failed[0]["sf__Id"] == ""
    assert failed[0]["sf__Error"] == (
        "DUPLICATE_EXTERNAL_ID:External_Id__c: more than one record found for external id "
        "field: [006EM9000000001YAA, 006EM9000000002YAA]:--"
    )
    assert sorted(stored(ingest)) == [("DUP-1", "b"), ("dup-1", "a")]


# -- duplicates and blanks inside one job ------------------------------------------------------


def test_first_occurrence_of_a_key_wins_later_ones_fail(ingest: IngestClient) -> None:
    data = (
        f"{HEADER}\n"
        "D-1,First,Prospecting,2025-01-15\n"
        "d-1,Second,Prospecting,2025-01-15\n"
        "D-1,Third,Prospecting,2025-01-15\n"
    )
    created, failed = outcome(ingest, data)
    assert [row["Name"] for row in created] == ["First"]
    assert [(row["Name"], row["sf__Id"], row["sf__Error"]) for row in failed] == [
        ("Second", "", "DUPLICATE_VALUE:Duplicate external id specified: d-1:--"),
        ("Third", "", "DUPLICATE_VALUE:Duplicate external id specified: D-1:--"),
    ]
    assert stored(ingest) == [("D-1", "First")]


def test_case_only_duplicates_are_distinct_when_case_sensitive(
    case_sensitive_ingest: IngestClient,
) -> None:
    data = f"{HEADER}\nD-1,First,Prospecting,2025-01-15\nd-1,Second,Prospecting,2025-01-15\n"
    created, failed = outcome(case_sensitive_ingest, data)
    assert (len(created), failed) == (2, [])


@pytest.mark.parametrize("blank", ["", "#N/A"])
def test_a_blank_external_id_is_an_error_row(ingest: IngestClient, blank: str) -> None:
    _, failed = outcome(ingest, f"{HEADER}\n{blank},Nameless,Prospecting,2025-01-15\n")
    assert failed == [
        {
            "sf__Id": "",
            "sf__Error": "MISSING_ARGUMENT:External_Id__c not specified:--",
            "External_Id__c": blank,
            "Name": "Nameless",
            "StageName": "Prospecting",
            "CloseDate": "2025-01-15",
        }
    ]


# -- required fields ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            "External_Id__c,StageName,CloseDate\nR-1,Prospecting,2025-01-15\n",
            "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --",
        ),
        (
            "External_Id__c,CloseDate\nR-1,2025-01-15\n",
            "REQUIRED_FIELD_MISSING:Required fields are missing: [Name, StageName]:Name,StageName --",
        ),
        (
            "External_Id__c,Amount\nR-1,10\n",
            "REQUIRED_FIELD_MISSING:Required fields are missing: [Name, StageName, CloseDate]:"
            "Name,StageName,CloseDate --",
        ),
        (
            f"{HEADER}\nR-1,#N/A,,2025-01-15\n",
            "REQUIRED_FIELD_MISSING:Required fields are missing: [Name, StageName]:Name,StageName --",
        ),
    ],
)
def test_required_fields_on_create(ingest: IngestClient, data: str, message: str) -> None:
    _, failed = outcome(ingest, data)
    assert [(row["sf__Id"], row["sf__Error"]) for row in failed] == [("", message)]
    assert stored(ingest) == []


def test_updates_need_no_required_fields_but_may_not_null_them(ingest: IngestClient) -> None:
    created, _ = outcome(ingest, f"{HEADER}\nU-1,Deal,Prospecting,2025-01-15\n")
    record_id = created[0]["sf__Id"]
    updated, failed = outcome(ingest, "External_Id__c,Amount,StageName\nU-1,5,\n")
    assert (len(updated), failed) == (1, [])
    _, failed = outcome(ingest, "External_Id__c,StageName\nU-1,#N/A\n")
    assert [(row["sf__Id"], row["sf__Error"]) for row in failed] == [
        (
            record_id,
            "REQUIRED_FIELD_MISSING:Required fields are missing: [StageName]:StageName --",
        )
    ]


# -- types, lengths, picklists -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("CloseDate", "2025/01/15"),
        ("CloseDate", "2025-02-30"),
        ("CloseDate", "15-01-2025"),
        ("CloseDate", "2025-01-15T10:00:00Z"),
        ("Amount", "abc"),
        ("Amount", "1,000"),
        ("Amount", " 12"),
        ("Probability", "ten"),
        ("TotalOpportunityQuantity", "1.2.3"),
        ("IsPrivate", "yes"),
    ],
)
def test_values_of_the_wrong_type_fail_the_row(
    ingest: IngestClient, column: str, value: str
) -> None:
    cells = {"External_Id__c": "T-1", "Name": "Deal", "StageName": "Prospecting"}
    cells["CloseDate"] = "2025-01-15"
    cells[column] = f'"{value}"'
    data = ",".join(cells) + "\n" + ",".join(cells.values()) + "\n"
    _, failed = outcome(ingest, data)
    assert failed[0]["sf__Error"] == (
        f"INVALID_TYPE_ON_FIELD_IN_RECORD:{column}: value not of required type: {value}:{column} --"
    )


def test_well_formed_values_are_converted(ingest: IngestClient) -> None:
    data = (
        "External_Id__c,Name,StageName,CloseDate,Amount,Probability,TotalOpportunityQuantity,"
        "IsPrivate\n"
        "V-1,Deal,Closed Won,2025-12-31,1234.5,75,1.5e3,TRUE\n"
        "V-2,Deal,Closed Lost,2024-02-29,-0.25,0,.5,0\n"
    )
    _, failed = outcome(ingest, data)
    assert failed == []
    assert stored(
        ingest,
        '"External_Id__c", "CloseDate", "Amount", "Probability", "TotalOpportunityQuantity", '
        '"IsPrivate"',
    ) == [
        ("V-1", dt.date(2025, 12, 31), Decimal("1234.50"), Decimal("75.00"), 1500.0, True),
        ("V-2", dt.date(2024, 2, 29), Decimal("-0.25"), Decimal("0.00"), 0.5, False),
    ]


def test_numbers_beyond_the_field_precision_are_out_of_range(ingest: IngestClient) -> None:
    _, failed = outcome(ingest, f"{HEADER},Probability\nN-1,Deal,Prospecting,2025-01-15,1000\n")
    assert failed[0]["sf__Error"] == (
        "NUMBER_OUTSIDE_VALID_RANGE:Probability: value outside of valid range on numeric field: "
        "1000:Probability --"
    )


def test_text_longer_than_the_field_fails_with_string_too_long(ingest: IngestClient) -> None:
    longest, too_long = "n" * 120, "n" * 121
    data = (
        f"{HEADER}\nL-1,{longest},Prospecting,2025-01-15\nL-2,{too_long},Prospecting,2025-01-15\n"
    )
    created, failed = outcome(ingest, data)
    assert [row["External_Id__c"] for row in created] == ["L-1"]
    assert failed[0]["sf__Error"] == (
        f"STRING_TOO_LONG:Name: data value too large: {too_long} (max length=120):Name --"
    )


def test_restricted_picklist_values_are_enforced(ingest: IngestClient) -> None:
    data = (
        f"{HEADER},Type\n"
        "P-1,Deal,Closed Wonn,2025-01-15,Anything\n"
        "P-2,Deal,closed won,2025-01-15,\n"
        "P-3,Deal,Closed Won,2025-01-15,Free text is fine here\n"
    )
    created, failed = outcome(ingest, data)
    assert [row["External_Id__c"] for row in created] == ["P-3"]
    assert errors_by_key(failed) == {
        "P-1": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:bad value for restricted picklist field: "
        "Closed Wonn:StageName --",
        "P-2": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:bad value for restricted picklist field: "
        "closed won:StageName --",
    }


def test_read_only_fields_cannot_be_written(ingest: IngestClient) -> None:
    data = f"{HEADER},CreatedDate\nW-1,Deal,Prospecting,2025-01-15,2025-01-01T00:00:00Z\n"
    _, failed = outcome(ingest, data)
    assert failed[0]["sf__Error"] == (
        "INVALID_FIELD_FOR_INSERT_UPDATE:Unable to create/update fields: CreatedDate. Please check "
        "the security settings of this field and verify that it is read/write for your profile or "
        "permission set.:CreatedDate --"
    )


def test_the_first_problem_of_a_row_is_reported(ingest: IngestClient) -> None:
    data = (
        "External_Id__c,Name,StageName,CloseDate,Amount\n"
        ",Deal,Bogus,2025-01-15,x\n"  # blank key wins over type and picklist
        "F-1,,Bogus,2025-01-15,x\n"  # type wins over required and picklist
        "F-2,,Bogus,2025-01-15,1\n"  # picklist wins over required
    )
    _, failed = outcome(ingest, data)
    assert [row["sf__Error"].split(":")[0] for row in failed] == [
        "MISSING_ARGUMENT",
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
    ]


# -- empty vs #N/A, quoting, header echo -------------------------------------------------------


def test_empty_leaves_a_field_unchanged_and_na_sets_it_null(ingest: IngestClient) -> None:
    outcome(
        ingest,
        f"{HEADER},Amount,Description,IsPrivate\nE-1,Deal,Prospecting,2025-01-15,10,Notes,true\n",
    )
    outcome(ingest, "External_Id__c,Amount,Description,IsPrivate\nE-1,#N/A,,#N/A\n")
    assert stored(ingest, '"Name", "Amount", "Description", "IsPrivate"') == [
        ("Deal", None, "Notes", False)
    ]


def test_empty_on_create_means_null(ingest: IngestClient) -> None:
    outcome(ingest, f"{HEADER},Amount,Description\nE-2,Deal,Prospecting,2025-01-15,,\n")
    assert stored(ingest, '"Amount", "Description", "IsPrivate"') == [(None, None, False)]


def test_quoted_values_keep_delimiters_quotes_newlines_and_spaces(ingest: IngestClient) -> None:
    data = (
        f"{HEADER},Description\n"
        'Q-1," Smith, John ",Prospecting,2025-01-15,"said ""hi""\nthen left"\n'
    )
    created, _ = outcome(ingest, data)
    assert stored(ingest, '"Name", "Description"') == [(" Smith, John ", 'said "hi"\nthen left')]
    assert created[0]["Description"] == 'said "hi"\nthen left'


def test_header_names_match_case_insensitively_and_echo_verbatim(ingest: IngestClient) -> None:
    job_id, _ = ingest.run(
        "EXTERNAL_ID__C,name,stagename,closeDate\nH-1,Deal,Prospecting,2025-01-15\n"
    )
    header = ingest.results(job_id, "successfulResults").splitlines()[0]
    assert header == '"sf__Id","sf__Created",EXTERNAL_ID__C,name,stagename,closeDate'
    assert stored(ingest) == [("H-1", "Deal")]


def test_duplicate_header_names_fail_the_job(ingest: IngestClient) -> None:
    _, info = ingest.run("External_Id__c,Name,name\nX-1,a,b\n")
    assert info["state"] == "Failed"
    assert info["errorMessage"] == "InvalidBatch : InvalidBatch : Duplicate field name : name"


# -- insert ------------------------------------------------------------------------------------


def test_insert_always_creates_and_needs_no_key(ingest: IngestClient) -> None:
    data = "Name,StageName,CloseDate\nOne,Prospecting,2025-01-15\nTwo,Prospecting,2025-01-15\n"
    created, failed = outcome(ingest, data, operation="insert", externalIdFieldName=None)
    assert failed == []
    assert [row["sf__Created"] for row in created] == ["true", "true"]
    assert stored(ingest, '"Name"') == [("One",), ("Two",)]


def test_unsupported_operations_fail_the_job_plainly(ingest: IngestClient) -> None:
    _, info = ingest.run("Id\n006EM0000000001YAA\n", operation="update", externalIdFieldName=None)
    assert info["state"] == "Failed"
    assert info["errorMessage"] == (
        "InvalidJob : Operation update on Opportunity is not supported by this emulator"
    )

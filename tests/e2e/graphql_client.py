"""A small client for the webserver's GraphQL API: the same mutations the UI sends."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests

REPOSITORY = "__repository__"
ASSET_JOB = "__ASSET_JOB"
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
TIMEOUT = (5, 60)

_RUN_FIELDS = "runId status creationTime startTime endTime parentRunId rootRunId tags { key value }"


class GraphQLError(AssertionError):
    pass


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    status: str
    tags: dict[str, str]
    creation_time: float
    start_time: float | None
    end_time: float | None
    parent_run_id: str | None

    @property
    def partition(self) -> str | None:
        """Single runs carry ``dagster/partition``; backfill runs carry a one-key range instead."""
        return self.tags.get("dagster/partition") or self.tags.get(
            "dagster/asset_partition_range_start"
        )

    @property
    def retry_number(self) -> int:
        return int(self.tags.get("dagster/retry_number", "0"))

    @classmethod
    def from_graphql(cls, run: Mapping[str, Any]) -> RunInfo:
        return cls(
            run_id=run["runId"],
            status=run["status"],
            tags={tag["key"]: tag["value"] for tag in run["tags"]},
            creation_time=run["creationTime"],
            start_time=run.get("startTime"),
            end_time=run.get("endTime"),
            parent_run_id=run.get("parentRunId"),
        )


class DagsterGraphQL:
    def __init__(self, url: str, location: str) -> None:
        self.url = url
        self.location = location
        self._session = requests.Session()
        self._session.trust_env = False  # loopback only; no proxies, no CA env overrides

    def execute(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        response = self._session.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": dict(variables or {})},
            timeout=TIMEOUT,
        )
        if response.status_code >= 400:
            raise GraphQLError(f"HTTP {response.status_code} from /graphql: {response.text[:2000]}")
        body = response.json()
        if body.get("errors"):
            raise GraphQLError(json.dumps(body["errors"])[:2000])
        return dict(body["data"])

    # --- readiness -------------------------------------------------------------------------

    def location_loaded(self) -> bool:
        try:
            data = self.execute(
                """{ workspaceOrError { __typename ... on Workspace { locationEntries {
                     name locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
            )
        except (requests.RequestException, GraphQLError):
            return False
        entries = data["workspaceOrError"].get("locationEntries", [])
        for entry in entries:
            if entry["name"] != self.location:
                continue
            loaded = entry["locationOrLoadError"] or {}
            if loaded.get("__typename") == "PythonError":
                raise GraphQLError(f"code location failed to load: {loaded['message']}")
            return loaded.get("__typename") == "RepositoryLocation"
        return False

    def daemons_healthy(self) -> bool:
        data = self.execute(
            """{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }"""
        )
        statuses = data["instance"]["daemonHealth"]["allDaemonStatuses"]
        return all(s["healthy"] for s in statuses if s["required"])

    def pool_settings(self, pool: str) -> dict[str, Any]:
        """The instance's pool config and this pool's limit, as the UI's Concurrency page shows them."""
        data = self.execute(
            """query($p: String) { instance {
                 poolConfig { poolGranularity defaultPoolLimit }
                 runQueueConfig { maxConcurrentRuns }
                 concurrencyLimit(concurrencyKey: $p) { limit usingDefaultLimit } } }""",
            {"p": pool},
        )
        return dict(data["instance"])

    # --- launching (what the UI buttons send) ---------------------------------------------

    def _repository(self) -> dict[str, str]:
        return {"repositoryLocationName": self.location, "repositoryName": REPOSITORY}

    def add_dynamic_partition(self, partitions_def: str, key: str) -> None:
        data = self.execute(
            """mutation($r: RepositorySelector!, $d: String!, $k: String!) {
                 addDynamicPartition(repositorySelector: $r, partitionsDefName: $d, partitionKey: $k) {
                   __typename ... on PythonError { message } } }""",
            {"r": self._repository(), "d": partitions_def, "k": key},
        )
        kind = data["addDynamicPartition"]["__typename"]
        if kind not in ("AddDynamicPartitionSuccess", "DuplicateDynamicPartitionError"):
            raise GraphQLError(f"addDynamicPartition: {data['addDynamicPartition']}")

    def launch_partition_run(
        self,
        asset_path: Sequence[str],
        partition: str,
        checks: Sequence[str] = (),
        run_config: Mapping[str, Any] | None = None,
    ) -> str:
        """The asset page's "Materialize" for one partition: ``launchRun`` on the implicit asset job."""
        asset_key = {"path": list(asset_path)}
        params = {
            "mode": "default",
            "runConfigData": json.dumps(dict(run_config or {})),
            "selector": {
                **self._repository(),
                "pipelineName": ASSET_JOB,
                "assetSelection": [asset_key],
                "assetCheckSelection": [{"assetKey": asset_key, "name": name} for name in checks],
            },
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]},
        }
        data = self.execute(
            """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
                 __typename ... on LaunchRunSuccess { run { runId } }
                 ... on PythonError { message } ... on RunConfigValidationInvalid { errors { message } }
               } }""",
            {"p": params},
        )
        result = data["launchRun"]
        if result["__typename"] != "LaunchRunSuccess":
            raise GraphQLError(f"launchRun: {result}")
        return str(result["run"]["runId"])

    def launch_backfill(self, asset_path: Sequence[str], partitions: Sequence[str]) -> str:
        data = self.execute(
            """mutation($b: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $b) {
                 __typename ... on LaunchBackfillSuccess { backfillId }
                 ... on PythonError { message } } }""",
            {
                "b": {
                    "assetSelection": [{"path": list(asset_path)}],
                    "partitionNames": list(partitions),
                    "fromFailure": False,
                }
            },
        )
        result = data["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise GraphQLError(f"launchPartitionBackfill: {result}")
        return str(result["backfillId"])

    def backfill_status(self, backfill_id: str) -> str:
        data = self.execute(
            """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
                 __typename ... on PartitionBackfill { status } } }""",
            {"id": backfill_id},
        )
        return str(data["partitionBackfillOrError"]["status"])

    def sensor_dry_run_partition_keys(self, name: str, partitions_def: str) -> list[str]:
        """Keys the sensor would add on its next tick (the UI's "Test sensor"), without a tick."""
        data = self.execute(
            """mutation($s: SensorSelector!) { sensorDryRun(selectorData: $s, cursor: null) {
                 __typename ... on DryRunInstigationTick { evaluationResult {
                   skipReason error { message }
                   dynamicPartitionsRequests { partitionKeys partitionsDefName type } } }
                 ... on PythonError { message } } }""",
            {"s": {**self._repository(), "sensorName": name}},
        )
        result = data["sensorDryRun"]
        if result["__typename"] != "DryRunInstigationTick" or result["evaluationResult"]["error"]:
            raise GraphQLError(f"sensorDryRun: {result}")
        keys: list[str] = []
        for request in result["evaluationResult"]["dynamicPartitionsRequests"] or []:
            if (
                request["partitionsDefName"] == partitions_def
                and request["type"] == "ADD_PARTITIONS"
            ):
                keys += request["partitionKeys"]
        return keys

    def start_schedule(self, name: str) -> str:
        data = self.execute(
            """mutation($s: ScheduleSelector!) { startSchedule(scheduleSelector: $s) {
                 __typename ... on ScheduleStateResult { scheduleState { status } }
                 ... on PythonError { message } } }""",
            {"s": {**self._repository(), "scheduleName": name}},
        )
        result = data["startSchedule"]
        if result["__typename"] != "ScheduleStateResult":
            raise GraphQLError(f"startSchedule: {result}")
        return str(result["scheduleState"]["status"])

    def start_sensor(self, name: str) -> str:
        data = self.execute(
            """mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) {
                 __typename ... on Sensor { sensorState { status } }
                 ... on PythonError { message } } }""",
            {"s": {**self._repository(), "sensorName": name}},
        )
        result = data["startSensor"]
        if result["__typename"] != "Sensor":
            raise GraphQLError(f"startSensor: {result}")
        return str(result["sensorState"]["status"])

    def stop_sensor(self, name: str) -> None:
        data = self.execute(
            """query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) {
                 __typename ... on Sensor { sensorState { id } } } }""",
            {"s": {**self._repository(), "sensorName": name}},
        )
        state_id = data["sensorOrError"]["sensorState"]["id"]
        self.execute("mutation($i: String!) { stopSensor(id: $i) { __typename } }", {"i": state_id})

    # --- observing ------------------------------------------------------------------------

    def runs(self, statuses: Sequence[str] = ()) -> list[RunInfo]:
        run_filter: dict[str, Any] = {"statuses": list(statuses)} if statuses else {}
        data = self.execute(
            f"""query($f: RunsFilter) {{ runsOrError(filter: $f, limit: 500) {{
                 __typename ... on Runs {{ results {{ {_RUN_FIELDS} }} }} }} }}""",
            {"f": run_filter},
        )
        return [RunInfo.from_graphql(run) for run in data["runsOrError"]["results"]]

    def run(self, run_id: str) -> RunInfo:
        data = self.execute(
            f"""query($id: ID!) {{ runOrError(runId: $id) {{
                 __typename ... on Run {{ {_RUN_FIELDS} }} }} }}""",
            {"id": run_id},
        )
        return RunInfo.from_graphql(data["runOrError"])

    def run_messages(self, run_id: str) -> list[str]:
        data = self.execute(
            """query($id: ID!) { logsForRun(runId: $id, limit: 1000) {
                 __typename ... on EventConnection { events { __typename
                   ... on MessageEvent { message } } } } }""",
            {"id": run_id},
        )
        return [e.get("message", "") for e in data["logsForRun"]["events"]]

    def run_worker_pid(self, run_id: str) -> int | None:
        """The PID from the engine event "Started process for run (pid: N)."."""
        for message in self.run_messages(run_id):
            match = re.search(r"Started process for run \(pid: (\d+)\)", message)
            if match:
                return int(match.group(1))
        return None

    def check_results_by_run(
        self, asset_path: Sequence[str], check_name: str
    ) -> dict[tuple[str, str], str]:
        """(run id, partition) -> status (SUCCEEDED, FAILED, SKIPPED, ...) of that check execution."""
        data = self.execute(
            """query($k: AssetKeyInput!, $c: String!) {
                 assetCheckExecutions(assetKey: $k, checkName: $c, limit: 1000) {
                   runId status partition } }""",
            {"k": {"path": list(asset_path)}, "c": check_name},
        )
        return {
            (execution["runId"], execution["partition"] or ""): execution["status"]
            for execution in data["assetCheckExecutions"]
        }

"""Start the real Dagster webserver on loopback, talk to its GraphQL API, stop it cleanly.

Shared by `tests/dagster_wc/test_webserver.py` and `scripts/screenshot_asset_graph.py`:

    with DagsterWebserver(home=tmp / "home", config=cfg) as server:
        server.graphql("{ version }")

The server runs `dagster-webserver -w workspace.yaml` from the repository root in its own process
group (so its code server and any run workers die with it), with DAGSTER_HOME=$WC_HOME/dagster.
The instance settings make launched runs start at once, without the daemon.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCATION_NAME = "dagster_wc.definitions"
REPOSITORY_NAME = "__repository__"
ASSET_JOB = "__ASSET_JOB"

INSTANCE_YAML = """\
telemetry:
  enabled: false
run_coordinator:
  module: dagster.core.run_coordinator
  class: DefaultRunCoordinator
"""

WORKSPACE_QUERY = """
{ workspaceOrError { __typename
    ... on Workspace { locationEntries { name loadStatus
        locationOrLoadError { __typename ... on PythonError { message stack } } } }
    ... on PythonError { message } } }
"""

ASSET_NODES_QUERY = """
{ assetNodes { assetKey { path } groupName isPartitioned
    dependencyKeys { path } dependedByKeys { path } } }
"""

ADD_PARTITION_MUTATION = """
mutation($selector: RepositorySelector!, $name: String!, $key: String!) {
  addDynamicPartition(repositorySelector: $selector, partitionsDefName: $name, partitionKey: $key) {
    __typename
    ... on AddDynamicPartitionSuccess { partitionsDefName partitionKey }
    ... on DuplicateDynamicPartitionError { partitionName }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
  }
}
"""

LAUNCH_RUN_MUTATION = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message stack }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PipelineNotFoundError { message }
    ... on RunConflict { message }
    ... on UnauthorizedError { message }
    ... on PresetNotFoundError { message }
    ... on ConflictingExecutionParamsError { message }
    ... on NoModeProvidedError { message }
  }
}
"""

RUN_QUERY = """
query($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { runId status tags { key value } }
    ... on RunNotFoundError { message }
    ... on PythonError { message }
  }
}
"""

RUN_EVENTS_QUERY = """
query($runId: ID!) {
  logsForRun(runId: $runId, limit: 200) {
    __typename
    ... on EventConnection { events { __typename ... on MessageEvent { message level }
        ... on ExecutionStepFailureEvent { error { message stack } } } }
  }
}
"""

TERMINAL_STATUSES = {"SUCCESS", "FAILURE", "CANCELED"}


class WebserverError(RuntimeError):
    """The webserver did not start, or a GraphQL call failed."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare_instance(dagster_home: Path, overwrite: bool = True) -> Path:
    """Write dagster.yaml: no telemetry, runs launched at once (no queue, no daemon needed)."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    settings = dagster_home / "dagster.yaml"
    if overwrite or not settings.exists():
        settings.write_text(INSTANCE_YAML)
    return settings


def server_env(home: Path, config: Path | None) -> dict[str, str]:
    """The environment of the webserver: this venv first on PATH, offline model hubs."""
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env["WC_HOME"] = str(home)
    env["DAGSTER_HOME"] = str(home / "dagster")
    if config is not None:
        env["WC_CONFIG"] = str(config)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.setdefault("OMP_NUM_THREADS", "2")
    env.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    env.pop("DAGSTER_IS_DEV_CLI", None)
    return env


class DagsterWebserver:
    """`dagster-webserver` as a subprocess on 127.0.0.1; a context manager that always stops it."""

    def __init__(
        self,
        home: str | os.PathLike,
        config: str | os.PathLike | None = None,
        *,
        port: int | None = None,
        startup_timeout_s: float = 120.0,
        overwrite_instance_yaml: bool = True,
        log_path: str | os.PathLike | None = None,
    ) -> None:
        self.home = Path(home).resolve()
        self.config = Path(config).resolve() if config is not None else None
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.startup_timeout_s = startup_timeout_s
        self.overwrite_instance_yaml = overwrite_instance_yaml
        self.log_path = Path(log_path) if log_path else self.home / "dagster" / "webserver.log"
        self.process: subprocess.Popen | None = None
        self.client = httpx.Client(base_url=self.url, timeout=60.0, trust_env=False)
        self.location_name = LOCATION_NAME
        self.startup_s: float | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> DagsterWebserver:
        prepare_instance(self.home / "dagster", overwrite=self.overwrite_instance_yaml)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        webserver = Path(sys.executable).parent / "dagster-webserver"
        command = [
            str(webserver) if webserver.exists() else "dagster-webserver",
            "-w",
            str(REPO_ROOT / "workspace.yaml"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
        ]
        started = time.monotonic()
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=server_env(self.home, self.config),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # own process group: stop() takes the children too
            )
        try:
            self._wait_until_ready(started + self.startup_timeout_s)
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - started
        return self

    def _wait_until_ready(self, deadline: float) -> None:
        """Poll /server_info, then the workspace until the code location has loaded."""
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise WebserverError(
                    f"dagster-webserver exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise WebserverError(
                    f"dagster-webserver not ready after {self.startup_timeout_s:.0f} s:\n{self.log_tail()}"
                )
            try:
                if self.client.get("/server_info", timeout=5.0).status_code == 200:
                    entries = self.graphql(WORKSPACE_QUERY)["workspaceOrError"].get(
                        "locationEntries", []
                    )
                    entry = next((e for e in entries if e["name"] == self.location_name), None)
                    if entry and entry["loadStatus"] == "LOADED":
                        error = entry["locationOrLoadError"]
                        if error and error["__typename"] == "PythonError":
                            raise WebserverError(
                                f"code location failed to load: {error['message']}\n{''.join(error['stack'] or [])}"
                            )
                        return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM the whole process group, SIGKILL what is left after `timeout_s`."""
        process, self.process = self.process, None
        self.client.close()
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout_s)
        # whatever of the group is left (code server, run workers): kill it
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        if process.poll() is None:
            process.wait(timeout=5.0)

    def __enter__(self) -> DagsterWebserver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no webserver log)"

    # -- GraphQL ---------------------------------------------------------------------------

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.client.post("/graphql", json={"query": query, "variables": variables or {}})
        if response.status_code != 200:
            raise WebserverError(f"GraphQL HTTP {response.status_code}: {response.text[:2000]}")
        body = response.json()
        if body.get("errors"):
            raise WebserverError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    @property
    def repository_selector(self) -> dict[str, str]:
        return {"repositoryName": REPOSITORY_NAME, "repositoryLocationName": self.location_name}

    def asset_nodes(self) -> list[dict[str, Any]]:
        return self.graphql(ASSET_NODES_QUERY)["assetNodes"]

    def dismiss_community_nux(self) -> None:
        """Mark the UI's one-time "Join the Dagster community" dialog as seen (it would cover screenshots)."""
        self.graphql("mutation { setNuxSeen }")

    def add_dynamic_partition(self, partitions_def: str, key: str) -> str:
        """Add a key; returns the result type (success, or duplicate when it existed)."""
        result = self.graphql(
            ADD_PARTITION_MUTATION,
            {"selector": self.repository_selector, "name": partitions_def, "key": key},
        )["addDynamicPartition"]
        if result["__typename"] not in (
            "AddDynamicPartitionSuccess",
            "DuplicateDynamicPartitionError",
        ):
            raise WebserverError(f"addDynamicPartition failed: {result}")
        return result["__typename"]

    def launch_assets(
        self, asset_names: list[str], partition_key: str | None = None, *, in_process: bool = False
    ) -> str:
        """Launch the implicit asset job for some assets (and one partition); returns the run id.

        `in_process` runs the steps inside the run worker instead of one more subprocess per step
        (the default multiprocess executor), which saves a Python start-up per step.
        """
        tags = [{"key": "dagster/partition", "value": partition_key}] if partition_key else []
        run_config = {"execution": {"config": {"in_process": {}}}} if in_process else {}
        params = {
            "selector": {
                **self.repository_selector,
                "pipelineName": ASSET_JOB,
                "assetSelection": [{"path": [name]} for name in asset_names],
            },
            "runConfigData": run_config,
            "mode": "default",
            "executionMetadata": {"tags": tags},
        }
        result = self.graphql(LAUNCH_RUN_MUTATION, {"params": params})["launchRun"]
        if result["__typename"] != "LaunchRunSuccess":
            raise WebserverError(f"launchRun failed: {result}")
        return result["run"]["runId"]

    def wait_for_run(self, run_id: str, timeout_s: float = 120.0) -> str:
        """Poll runOrError until the run ends; returns its status (raises on timeout)."""
        deadline = time.monotonic() + timeout_s
        status = "UNKNOWN"
        while time.monotonic() < deadline:
            run = self.graphql(RUN_QUERY, {"runId": run_id})["runOrError"]
            if run["__typename"] != "Run":
                raise WebserverError(f"runOrError({run_id}): {run}")
            status = run["status"]
            if status in TERMINAL_STATUSES:
                return status
            time.sleep(0.5)
        raise WebserverError(
            f"run {run_id} still {status} after {timeout_s:.0f} s:\n{self.run_log(run_id)}"
        )

    def run_log(self, run_id: str) -> str:
        """The run's event messages and step errors (for failure messages)."""
        logs = self.graphql(RUN_EVENTS_QUERY, {"runId": run_id})["logsForRun"]
        lines = []
        for event in logs.get("events", []):
            if event.get("message"):
                lines.append(f"{event['__typename']}: {event['message']}")
            if event.get("error"):
                lines.append(event["error"]["message"] + "".join(event["error"].get("stack") or []))
        return "\n".join(lines)[-6000:]

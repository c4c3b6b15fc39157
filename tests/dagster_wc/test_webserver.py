"""The real Dagster webserver: the UI sees every stage and its lineage, and launches runs.

Starts `dagster-webserver -w workspace.yaml` on loopback with a temporary WC_HOME and a tiny
config, then speaks GraphQL to it the way the UI does: read the asset graph, add an expert
partition, launch `expert_registry` and one `instructions_mined` partition, and find their lake
files. The server's process group is killed at the end, pass or fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from scripts.dagster_webserver import DagsterWebserver
from wc_foundation.storage import Home, read_lake_table

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

PIPELINE_GROUPS = {
    "registry",
    "mining",
    "dedup",
    "scoring",
    "selection",
    "arena",
    "battles",
    "ratings",
    "sft_data",
    "training",
    "evaluation",
}
MINER = "alpha"

MATERIALIZATIONS_QUERY = """
query($path: [String!]!, $partitions: [String!]) {
  assetOrError(assetKey: {path: $path}) {
    __typename
    ... on Asset { assetMaterializations(partitions: $partitions) { runId partition } }
  }
}
"""

PARTITION_KEYS_QUERY = """
query($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) { __typename ... on AssetNode { partitionKeys } }
}
"""


@pytest.fixture(scope="module")
def arena_home(tmp_path_factory, tiny_model_dir) -> tuple[Path, Path]:
    """A temporary WC_HOME and a two-expert config with a one-sample mining budget."""
    root = tmp_path_factory.mktemp("webserver")
    config = root / "arena.yaml"
    config.write_text(
        f"""
name: webserver-test
experts:
  - {{slug: {MINER}, model: "{tiny_model_dir}", family: tiny}}
  - {{slug: beta, model: "{tiny_model_dir}", family: tiny}}
mining:
  languages: [python]
  sampling_grid: [{{temperature: 1.0, top_p: 1.0}}]
  samples_per_setting: 1
  max_new_tokens: 8
"""
    )
    return root / "home", config


@pytest.fixture(scope="module")
def server(arena_home) -> Iterator[DagsterWebserver]:
    home, config = arena_home
    webserver = DagsterWebserver(home, config, startup_timeout_s=120)
    with webserver:
        yield webserver


def test_ui_shows_every_stage_group_and_lineage_to_evaluation(server):
    nodes = {tuple(n["assetKey"]["path"]): n for n in server.asset_nodes()}
    groups = {n["groupName"] for n in nodes.values()}
    assert groups >= PIPELINE_GROUPS, f"missing groups {PIPELINE_GROUPS - groups}"
    assert groups <= PIPELINE_GROUPS | {"analytics"}, (
        f"unexpected groups {groups - PIPELINE_GROUPS}"
    )
    assert nodes[("instructions_mined",)]["isPartitioned"]
    assert nodes[("expert_registry",)]["groupName"] == "registry"
    assert nodes[("evaluation",)]["groupName"] == "evaluation"

    # walk downstream from the mined instructions; every stage lies on the way to evaluation
    seen, frontier = set(), [("instructions_mined",)]
    while frontier:
        key = frontier.pop()
        if key in seen:
            continue
        seen.add(key)
        frontier.extend(tuple(k["path"]) for k in nodes[key]["dependedByKeys"])
    assert ("evaluation",) in seen
    reached_groups = {nodes[k]["groupName"] for k in seen if k in nodes}
    assert reached_groups >= PIPELINE_GROUPS - {"registry"}

    # the upstream edges agree with the downstream ones
    for key, node in nodes.items():
        for parent in node["dependencyKeys"]:
            parent_key = tuple(parent["path"])
            if parent_key in nodes:  # dbt sources are keys without a node of their own
                assert key in {tuple(k["path"]) for k in nodes[parent_key]["dependedByKeys"]}


def test_ui_launches_registry_and_one_mining_partition(server, arena_home):
    home = Home.resolve(arena_home[0])
    assert server.add_dynamic_partition("experts", MINER) == "AddDynamicPartitionSuccess"
    keys = server.graphql(PARTITION_KEYS_QUERY, {"path": ["instructions_mined"]})[
        "assetNodeOrError"
    ]
    assert keys["partitionKeys"] == [MINER]

    # both runs start at once (DefaultRunCoordinator: no queue, no daemon)
    registry_run = server.launch_assets(["expert_registry"], in_process=True)
    mining_run = server.launch_assets(["instructions_mined"], partition_key=MINER, in_process=True)
    for run_id in (registry_run, mining_run):
        status = server.wait_for_run(run_id, timeout_s=180)
        assert status == "SUCCESS", f"run {run_id} ended {status}:\n{server.run_log(run_id)}"

    assert (home.lake / "expert_registry" / "all.parquet").is_file()
    assert (home.lake / "instructions_mined" / f"{MINER}.parquet").is_file()
    registry = read_lake_table(home, "expert_registry")
    assert sorted(registry["expert"].to_list()) == [MINER, "beta"]
    mined = pl.read_parquet(home.lake / "instructions_mined" / f"{MINER}.parquet")
    assert len(mined) == 1 and mined["expert"].to_list() == [MINER]
    assert not (home.lake / "instructions_mined" / "beta.parquet").exists()

    # the UI's asset pages see the materializations, tied to the runs and the partition
    events = server.graphql(
        MATERIALIZATIONS_QUERY, {"path": ["instructions_mined"], "partitions": [MINER]}
    )
    assert [
        (e["runId"], e["partition"]) for e in events["assetOrError"]["assetMaterializations"]
    ] == [(mining_run, MINER)]
    events = server.graphql(
        MATERIALIZATIONS_QUERY, {"path": ["expert_registry"], "partitions": None}
    )
    assert [e["runId"] for e in events["assetOrError"]["assetMaterializations"]] == [registry_run]

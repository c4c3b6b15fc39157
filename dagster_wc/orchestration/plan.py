"""The pipeline's steps, derived from the asset graph: there is no second list of stages.

A Dagster run holds one partition key, so the pipeline is a sequence of runs ("steps"):
- every Python asset, in topological order of the asset graph, once or once per expert
  partition (the partitions its `PARTITION_ROLE_TAG` names);
- the dbt models, built in one step just before the first Python asset that reads them, and the
  rest in one step at the end. dbt is built only when a Python step needs it, so a whole arena
  costs about as many dbt invocations as it has Python stages that read the warehouse.
A stage is an asset group: the module of a Python asset (dagster_wc/defs/<stage>.py) or the folder
of a dbt model (dbt_project/models/<stage>/). Stages are ordered by their first asset in the graph.
An asset tagged `NEEDS_TARGET_TAG` (training) and everything downstream of it is left out when
the config has no target model. A dbt test whose models were built in different steps (a
`relationships` test across stages) cannot run in either; the last dbt build selects those asset
checks too, so every dbt test runs somewhere in a full run. When a Python step needs a dbt build,
the build takes every model that can be built at that point, so a whole arena costs few dbt
invocations (each costs seconds of start-up).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import dagster as dg

from dagster_wc.orchestration.partitions import NEEDS_TARGET_TAG, PARTITION_ROLE_TAG, slugs_for_role
from wc_foundation.config import ArenaConfig

DBT_LABEL_PREFIX = "dbt:"  # a dbt step's label: "dbt: <stages> models"


def is_dbt_label(label: str) -> bool:
    """Whether a step label names a dbt build (what a run's step tag carries)."""
    return label.startswith(DBT_LABEL_PREFIX)


@dataclass(frozen=True)
class Step:
    """One Dagster run: a set of asset keys, optionally for one partition."""

    stage: str
    label: str
    asset_keys: tuple[dg.AssetKey, ...]
    partition_key: str | None = None
    kind: Literal["python", "dbt"] = "python"
    check_keys: tuple[dg.AssetCheckKey, ...] = ()  # a checks-only step (tests across steps)


@dataclass(frozen=True)
class PipelineShape:
    """What the plan needs from the asset graph, in plain data (cheap to test)."""

    order: tuple[dg.AssetKey, ...]  # every materializable asset, topologically sorted
    group: dict[dg.AssetKey, str]
    parents: dict[dg.AssetKey, frozenset[dg.AssetKey]]
    dbt_keys: frozenset[dg.AssetKey]
    partition_role: dict[dg.AssetKey, str]  # partitioned Python assets -> role
    needs_target: frozenset[dg.AssetKey]
    check_parents: dict[dg.AssetCheckKey, frozenset[dg.AssetKey]] = field(default_factory=dict)

    @property
    def stages(self) -> tuple[str, ...]:
        """Asset groups in pipeline order (the order of each group's first asset)."""
        seen: dict[str, None] = {}
        for key in self.order:
            seen.setdefault(self.group[key], None)
        return tuple(seen)

    def ancestors(self, key: dg.AssetKey) -> set[dg.AssetKey]:
        found: set[dg.AssetKey] = set()
        frontier = list(self.parents.get(key, ()))
        while frontier:
            parent = frontier.pop()
            if parent not in found:
                found.add(parent)
                frontier.extend(self.parents.get(parent, ()))
        return found

    def descendants(self, keys: Iterable[dg.AssetKey]) -> set[dg.AssetKey]:
        """`keys` and everything downstream of them."""
        wanted = set(keys)
        for key in self.order:  # topological: parents come first
            if self.parents.get(key, frozenset()) & wanted:
                wanted.add(key)
        return wanted


def dbt_check_parents(manifest: dict) -> dict[dg.AssetCheckKey, frozenset[dg.AssetKey]]:
    """Each dbt generic test's asset check and every model the test reads (from the manifest)."""
    nodes = manifest["nodes"]
    found = {}
    for node in nodes.values():
        attached = node.get("attached_node")
        if node["resource_type"] != "test" or attached not in nodes:
            continue
        models = [nodes[d]["name"] for d in node["depends_on"]["nodes"] if d.startswith("model.")]
        key = dg.AssetCheckKey(dg.AssetKey(nodes[attached]["name"]), node["name"])
        found[key] = frozenset(dg.AssetKey(name) for name in models)
    return found


def pipeline_shape(
    asset_graph,
    dbt_keys: Iterable[dg.AssetKey],
    check_parents: dict[dg.AssetCheckKey, frozenset[dg.AssetKey]] | None = None,
) -> PipelineShape:
    """Read the pipeline's shape off a resolved asset graph (`Definitions.resolve_asset_graph()`).

    `check_parents` (`dbt_check_parents(manifest)`) lets the plan find tests across steps."""
    keys = [
        key for key in asset_graph.toposorted_asset_keys if asset_graph.get(key).is_materializable
    ]
    nodes = {key: asset_graph.get(key) for key in keys}
    return PipelineShape(
        order=tuple(keys),
        group={key: node.group_name for key, node in nodes.items()},
        parents={key: frozenset(node.parent_keys) & set(keys) for key, node in nodes.items()},
        dbt_keys=frozenset(dbt_keys) & set(keys),
        partition_role={
            key: node.tags[PARTITION_ROLE_TAG]
            for key, node in nodes.items()
            if node.partitions_def is not None and PARTITION_ROLE_TAG in node.tags
        },
        needs_target=frozenset(key for key, node in nodes.items() if NEEDS_TARGET_TAG in node.tags),
        check_parents={
            key: parents
            for key, parents in (check_parents or {}).items()
            if key in asset_graph.asset_check_keys
        },
    )


def plan_steps(
    shape: PipelineShape, config: ArenaConfig, stages: Iterable[str] | None = None
) -> list[Step]:
    """Every run of the pipeline, in order, for the chosen stages (default: all)."""
    all_stages = shape.stages
    chosen = set(stages or all_stages)
    unknown = chosen - set(all_stages)
    if unknown:
        raise ValueError(f"unknown stage(s) {sorted(unknown)}; stages are {', '.join(all_stages)}")
    left_out = shape.descendants(shape.needs_target) if config.target is None else set()
    # a stage of dbt models only (battles, analytics) has no step of its own to choose: its
    # models are built whenever a chosen Python step reads them
    python_groups = {shape.group[k] for k in shape.order if k not in shape.dbt_keys}
    included = chosen | (set(all_stages) - python_groups)
    wanted = [k for k in shape.order if shape.group[k] in chosen and k not in left_out]
    dbt_wanted = [
        k
        for k in shape.order
        if k in shape.dbt_keys and shape.group[k] in included and k not in left_out
    ]
    if stages is not None:  # dbt-only stages that were not chosen: only what a chosen step reads
        needed_by_chosen = set().union(
            *(shape.ancestors(k) for k in wanted if k not in shape.dbt_keys)
        )
        dbt_wanted = [k for k in dbt_wanted if shape.group[k] in chosen or k in needed_by_chosen]
    python_wanted = {k for k in wanted if k not in shape.dbt_keys}
    python_before = {k: shape.ancestors(k) & python_wanted for k in dbt_wanted}
    built: set[dg.AssetKey] = set()
    planned: set[dg.AssetKey] = set()
    steps: list[Step] = []
    for key in wanted:
        if key in shape.dbt_keys:
            continue
        if any(k in shape.ancestors(key) and k not in built for k in dbt_wanted):
            # build every model that can be built now, not only the ones this step reads:
            # fewer, larger dbt invocations (each costs seconds of start-up)
            batch = [k for k in dbt_wanted if k not in built and python_before[k] <= planned]
            steps += dbt_step(shape, batch)
            built.update(batch)
        stage, name = shape.group[key], key.to_user_string()
        role = shape.partition_role.get(key)
        if role is None:
            steps.append(Step(stage, name, (key,)))
        else:
            steps += [
                Step(stage, f"{name}[{slug}]", (key,), slug)
                for slug in slugs_for_role(config, role)
            ]
        planned.add(key)
    steps += dbt_step(shape, [k for k in dbt_wanted if k not in built])
    return with_cross_step_tests(shape, steps)


def with_cross_step_tests(shape: PipelineShape, steps: list[Step]) -> list[Step]:
    """The plan, its last dbt build also running the tests whose models were built in different
    dbt steps (its own models' tests stay selected too); a checks-only step if none is last."""
    dbt_steps = [s for s in steps if s.kind == "dbt"]
    built = {key for step in dbt_steps for key in step.asset_keys}
    across = [
        check
        for check, parents in shape.check_parents.items()
        if len(parents) > 1
        and parents <= built
        and not any(parents <= set(step.asset_keys) for step in dbt_steps)
    ]
    if not across:
        return steps
    last = steps[-1]
    if last.kind == "dbt" and last.asset_keys:
        own = [c for c in shape.check_parents if c.asset_key in set(last.asset_keys)]
        checks = tuple(sorted({*own, *across}, key=lambda c: c.to_user_string()))
        return [
            *steps[:-1],
            replace(last, check_keys=checks, label=f"{last.label} + tests across stages"),
        ]
    checks = tuple(sorted(across, key=lambda c: c.to_user_string()))
    return [
        *steps,
        Step(
            last.stage, f"{DBT_LABEL_PREFIX} tests across stages", (), kind="dbt", check_keys=checks
        ),
    ]


def dbt_step(shape: PipelineShape, keys: Sequence[dg.AssetKey]) -> list[Step]:
    """One dbt run for `keys` (none when empty), labelled by the stages it builds."""
    if not keys:
        return []
    groups = list(dict.fromkeys(shape.group[k] for k in keys))
    label = f"{DBT_LABEL_PREFIX} {', '.join(groups)} models"
    return [Step(groups[-1], label, tuple(keys), kind="dbt")]


def upstream_labels(step: Step, shape: PipelineShape, known: Iterable[str]) -> list[str]:
    """Labels of the Python steps (recorded or planned) whose asset is upstream of `step`."""
    ancestors: set[dg.AssetKey] = set()
    for key in step.asset_keys:
        ancestors |= shape.ancestors(key)
    names = {key.to_user_string() for key in ancestors if key not in shape.dbt_keys}
    return [label for label in known if label.split("[")[0] in names]


def sibling_partition(step: Step, previous: Step) -> bool:
    """Another expert's partition of the same asset(s): independent, so it runs after a failure."""
    return (
        step.partition_key is not None
        and previous.partition_key is not None
        and step.asset_keys == previous.asset_keys
    )

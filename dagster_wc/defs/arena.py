"""Stages 5-6: every competitor answers, uninvolved judges vote in both orders, code is executed."""

import dagster as dg
import polars as pl

from dagster_wc.metadata import cache_metadata, markdown_table, value_counts
from dagster_wc.orchestration.partitions import PARTITION_ROLE_TAG, experts_partitions
from dagster_wc.resources import ArenaResource
from gpu_ops.arena import judge_reliability as reliability
from gpu_ops.arena.execution_judge import (
    EXECUTION_COLUMNS,
    hidden_tests_source,
    score_responses,
)
from gpu_ops.arena.judging import JUDGMENTS_SCHEMA, build_battles, eligible_judges, judge_battles
from gpu_ops.arena.responding import RESPONSES_SCHEMA, generate_responses
from gpu_ops.arena.scheduling import (
    BATTLE_JUDGE_COLUMNS,
    RaceSettings,
    competitors_of,
    execution_votes,
    full_judge_counts,
    llm_votes,
    plan_judge,
    schedule_counts,
)
from gpu_ops.cluster import cluster_scope
from gpu_ops.state_db import open_execution_cache
from wc_foundation.config import ArenaConfig
from wc_foundation.storage import lake_partitions, read_lake_table, write_lake_table
from wc_foundation.warehouse import read_model

# the config sections this stage reads: its steps' config version hashes only these
CONFIG_SECTIONS = ("experts", "responses", "judging", "battles", "winners", "ratings")


# Tables the `judgments` asset writes beside its own (one file per judge): declared so the lineage
# reads judgments -> table -> staging view in this stage; they are never materialized on their own.
judging_schedule_table = dg.AssetSpec(
    "judging_schedule",
    deps=["judgments"],
    partitions_def=experts_partitions,
    kinds={"parquet"},
    description="Judge calls each judge spent and what the full schedule needs (written "
    "by `judgments`).",
)
battle_judges_table = dg.AssetSpec(
    "battle_judges",
    deps=["judgments"],
    partitions_def=experts_partitions,
    kinds={"parquet"},
    description="Judges the full schedule asks per battle, the weight of adaptive votes "
    "(written by `judgments`).",
)


def battle_instructions(arena: ArenaResource) -> pl.DataFrame:
    """The selected instructions (id, text, miner) in selection order (dbt: battle_instructions)."""
    return read_model(arena.home, "battle_instructions", order_by=["selection_rank"]).select(
        "instruction_id", "instruction", "miner"
    )


@dg.asset(
    partitions_def=experts_partitions,
    tags={PARTITION_ROLE_TAG: "competitor"},
    kinds={"python", "parquet"},
    deps=["battle_instructions"],
)
def responses(context: dg.AssetExecutionContext, arena: ArenaResource) -> dg.MaterializeResult:
    """A competitor's answer to every selected instruction (paper: T=1.0, top_p=0.95)."""
    model = None
    config = arena.arena_config
    slug = context.partition_key
    expert = config.arena_model(slug)
    if slug not in {e.slug for e in config.experts_with_role("competitor")}:
        frame = pl.DataFrame(schema=RESPONSES_SCHEMA)
    else:
        instructions = battle_instructions(arena)
        settings = config.responses
        with arena.chat_model(expert, "responses") as model:
            frame = generate_responses(
                model,
                instructions,
                expert=slug,
                sampling=settings.sampling(),
                seed=settings.seed,
                system_prompt=settings.system_prompt,
            )
    path = write_lake_table(arena.home, "responses", frame, partition=slug)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            **cache_metadata(model),
            "rows": len(frame),
            "completion_tokens": int(frame["completion_tokens"].sum() or 0),
            "finish_reasons": value_counts(frame, "finish_reason") if len(frame) else {},
        }
    )


def battles_to_judge(
    config: ArenaConfig, judge: str, instructions: pl.DataFrame, answers: pl.DataFrame
) -> pl.DataFrame:
    """Every (instruction, pair) this judge may vote on: enabled competitors, judge uninvolved."""
    competitors = sorted(e.slug for e in config.experts_with_role("competitor"))
    answers = answers.filter(
        pl.col("expert").is_in(competitors)
        & pl.col("instruction_id").is_in(instructions["instruction_id"].implode())
    )
    battles = build_battles(instructions, answers, pairing=config.responses.pairing)
    families = {m.slug: m.family or m.slug for m in (*config.experts, *config.judging.extra_judges)}
    pairs = battles.select("model_a", "model_b").unique()
    allowed = [
        (a, b)
        for a, b in pairs.iter_rows()
        if eligible_judges(
            [judge], a, b, families=families, exclude_same_family=config.judging.exclude_same_family
        )
    ]
    allowed_pairs = pl.DataFrame(
        allowed, schema={"model_a": pl.String, "model_b": pl.String}, orient="row"
    )  # typed: a judge with no pair to judge (two experts, family rules) gets an empty frame
    return battles.join(allowed_pairs, on=["model_a", "model_b"], how="semi")


def apply_new_judge_policy(
    battles: pl.DataFrame, judge: str, generations: dict[str, int], policy: str, fraction: float
) -> pl.DataFrame:
    """What a judge that joined after both sides of a battle does with it ("existing battles").

    on: judges them all; off: judges none of them; sampled: a deterministic `fraction`, chosen
    by a hash of (judge, instruction, pair). Battles with a side as new as the judge stay.
    """
    if policy == "on" or battles.is_empty():
        return battles
    judge_generation = generations.get(judge, 0)
    side_a = pl.col("model_a").replace_strict(generations, default=0)
    side_b = pl.col("model_b").replace_strict(generations, default=0)
    existing = (side_a < judge_generation) & (side_b < judge_generation)
    if policy == "off":
        return battles.filter(~existing)
    key = pl.concat_str([pl.lit(judge), "instruction_id", "model_a", "model_b"], separator="|")
    sampled = (key.hash(seed=0) % 1_000_000) < int(fraction * 1_000_000)
    return battles.filter(~existing | sampled)


def joined_generations(arena: ArenaResource) -> dict[str, int]:
    registry = read_lake_table(arena.home, "expert_registry")
    return dict(zip(registry["expert"], registry["joined_generation"], strict=True))


def adaptive_battles(
    arena: ArenaResource, judge: str, instructions: pl.DataFrame, answers: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`battles.schedule: adaptive`: this judge's share of the race (gpu_ops.arena.scheduling),
    from the votes of the judges before it in the judging order and the execution judge; and
    the `battle_judges` rows that weigh them (judges the full schedule asks per battle)."""
    config = arena.arena_config
    order = [m.slug for m in config.judge_models()]
    generations = joined_generations(arena)
    settings = config.judging
    full = {
        j: apply_new_judge_policy(
            battles_to_judge(config, j, instructions, answers),
            j,
            generations,
            settings.new_expert_judges_existing,
            settings.sampled_fraction,
        )
        for j in order
    }
    judged = lake_partitions(arena.home, "judgments")
    earlier = [read_lake_table(arena.home, "judgments", partition=j) for j in order if j in judged]
    votes = [llm_votes(frame) for frame in earlier]
    if settings.execution.enabled and lake_partitions(arena.home, "execution_results"):
        results = read_lake_table(arena.home, "execution_results")
        votes.append(execution_votes(results, settings.execution.weight))
    keys = {j: b.select("instruction_id", "model_a", "model_b") for j, b in full.items()}
    chosen = plan_judge(
        judge,
        order,
        keys,
        pl.concat([llm_votes(pl.DataFrame(schema=JUDGMENTS_SCHEMA)), *votes]),
        competitors_of(full.values()),
        RaceSettings(
            alpha=config.winners.alpha,
            z=config.battles.z,
            orders=2 if settings.both_orders else 1,
            scale=config.ratings.scale,
            base=config.ratings.base,
        ),
        already_judged=read_lake_table(arena.home, "judgments", partition=judge)
        if judge in judged
        else None,
    )
    return (
        full[judge].join(chosen, on=["instruction_id", "model_a", "model_b"], how="semi"),
        full_judge_counts(keys, chosen, judge),
    )


@dg.asset(
    partitions_def=experts_partitions,
    tags={PARTITION_ROLE_TAG: "judge"},
    kinds={"python", "parquet"},
    deps=[responses, "battle_instructions", "execution_results"],
)
def judgments(context: dg.AssetExecutionContext, arena: ArenaResource) -> dg.MaterializeResult:
    """One judge's votes on every battle it is not part of (`battles.schedule: full`) or on its
    share of the race (`adaptive`), in both presentation orders; `judging_schedule` counts them."""
    model = None
    config = arena.arena_config
    judge = context.partition_key
    judge_slugs = {m.slug for m in config.judge_models()}
    battles = pl.DataFrame()
    full_battles = 0
    weights = pl.DataFrame(schema=BATTLE_JUDGE_COLUMNS)  # full: every vote weighs 1
    if judge in judge_slugs:
        instructions = battle_instructions(arena)
        answers = read_lake_table(arena.home, "responses")
        battles = battles_to_judge(config, judge, instructions, answers)
        battles = apply_new_judge_policy(
            battles,
            judge,
            joined_generations(arena),
            config.judging.new_expert_judges_existing,
            config.judging.sampled_fraction,
        )
        full_battles = len(battles)
        if config.battles.schedule == "adaptive" and len(battles):
            battles, weights = adaptive_battles(arena, judge, instructions, answers)
    if battles.is_empty():
        frame = pl.DataFrame(schema=JUDGMENTS_SCHEMA)
    else:
        with arena.chat_model(config.arena_model(judge), "judgments") as model:
            frame = judge_battles(
                model,
                battles,
                judge=judge,
                mode=config.judging.mode,
                both_orders=config.judging.both_orders,
                sampling=config.judging.sampling(),
                system_prompt=config.judging.system_prompt == "paper",
                likelihood_tie_margin=config.judging.likelihood_tie_margin,
                answer_system_prompt=config.responses.system_prompt,
            )
    path = write_lake_table(arena.home, "judgments", frame, partition=judge)
    orders = 2 if config.judging.both_orders else 1
    counts = schedule_counts(judge, config.battles.schedule, full_battles, len(battles), orders)
    write_lake_table(arena.home, "judging_schedule", counts, partition=judge)
    write_lake_table(arena.home, "battle_judges", weights, partition=judge)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            **cache_metadata(model),
            "votes": len(frame),
            "battles": len(battles),
            "battles_full_schedule": full_battles,
            "prompt_tokens": int(frame["prompt_tokens"].sum() or 0),
            "completion_tokens": int(frame["completion_tokens"].sum() or 0),
            "verdicts": value_counts(frame, "verdict") if len(frame) else {},
        }
    )


def enabled_judgments(arena: ArenaResource) -> pl.DataFrame:
    """The judgments of enabled LLM judges on battles of enabled competitors (as battle_votes)."""
    config = arena.arena_config
    if not lake_partitions(arena.home, "judgments"):
        return pl.DataFrame(schema=JUDGMENTS_SCHEMA)
    judges = [m.slug for m in config.judge_models()]
    competitors = [e.slug for e in config.experts_with_role("competitor")]
    return read_lake_table(arena.home, "judgments").filter(
        pl.col("judge").is_in(judges)
        & pl.col("model_a").is_in(competitors)
        & pl.col("model_b").is_in(competitors)
    )


@dg.asset(kinds={"python", "parquet"}, deps=[judgments])
def judge_reliability(
    context: dg.AssetExecutionContext, arena: ArenaResource
) -> dg.MaterializeResult:
    """Each LLM judge's accuracy, estimated from the judges' agreement alone (Dawid-Skene), and
    the weight battle_votes gives its votes: the estimate under `judging.aggregate: reliability`,
    1 under `vote`. A judge that shares no battle with another judge keeps weight 1."""
    aggregate = arena.arena_config.judging.aggregate
    frame = reliability.judge_reliability(enabled_judgments(arena), aggregate)
    alone = frame.filter(~pl.col("estimated"))["judge"].to_list()
    if alone and aggregate == "reliability":
        context.log.warning(
            f"judging.aggregate=reliability: judges {alone} share no battle with another "
            f"judge ({reliability.NOT_ESTIMATED}); with three experts every battle has one "
            "judge, so no judge can be estimated and the votes weigh as under `vote`"
        )
    path = write_lake_table(arena.home, "judge_reliability", frame)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "aggregate": aggregate,
            "judges_estimated": int(frame["estimated"].sum()),
            "judges_at_prior_weight": alone,
            "reliability": markdown_table(
                frame.select("judge", "shared_battles", "accuracy", "weight", "note")
            ),
        }
    )


@dg.asset(
    partitions_def=experts_partitions,
    tags={PARTITION_ROLE_TAG: "competitor"},
    kinds={"python", "parquet"},
    deps=[responses, "battle_instructions"],
)
def execution_results(
    context: dg.AssetExecutionContext, arena: ArenaResource
) -> dg.MaterializeResult:
    """The execution judge: each response's code run in the sandbox against independent tests
    (the instruction's examples and the other competitors' tests; never its own)."""
    model = None
    config = arena.arena_config
    slug = context.partition_key
    settings = config.judging.execution
    frame = pl.DataFrame(schema=EXECUTION_COLUMNS)
    sandbox = {"sandbox_runs": 0, "sandbox_cache_hits": 0, "sandbox_cache_misses": 0}
    if settings.enabled and slug in lake_partitions(arena.home, "responses"):
        answers = read_lake_table(arena.home, "responses", partition=slug)
        instructions = battle_instructions(arena)
        rows = answers.join(
            instructions.select("instruction_id", "instruction"), on="instruction_id"
        )
        if len(rows):
            cache = open_execution_cache(
                arena.home.cache / "execution_results.sqlite", config.compute.state_url
            )
            try:
                with cluster_scope(f"execution_results[{slug}]", config.compute.ray_address):
                    frame = score_responses(
                        rows.select("instruction_id", "expert", "instruction", "response"),
                        peers=read_lake_table(arena.home, "responses"),  # cross-execution tests
                        timeout_s=settings.timeout_s,
                        memory_mb=settings.memory_mb,
                        allow_weak_isolation=settings.allow_weak_isolation,
                        cache=cache,
                        hidden_tests=hidden_tests_source(settings.hidden_tests),
                        test_weighting=settings.test_weighting,
                        min_sources=settings.min_sources,
                    )
                sandbox = {
                    "sandbox_runs": cache.sandbox_runs,
                    "sandbox_cache_hits": cache.hits,
                    "sandbox_cache_misses": cache.misses,
                }
            finally:
                cache.close()
    path = write_lake_table(arena.home, "execution_results", frame, partition=slug)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            **cache_metadata(model),
            "rows": len(frame),
            "mean_exec_score": float(frame["exec_score"].mean() or 0.0) if len(frame) else 0.0,
            "error_kinds": value_counts(frame, "error_kind") if len(frame) else {},
            "isolation": value_counts(frame, "isolation") if len(frame) else {},
            **sandbox,
        }
    )


@dg.asset_check(
    asset="judgments",
    blocking=True,
    description="Both presentation orders judged for every vote pair.",
)
def judgments_have_both_orders(arena: ArenaResource) -> dg.AssetCheckResult:
    frame = arena.lake_table_or_none("judgments")
    if frame is None or frame.is_empty() or not arena.arena_config.judging.both_orders:
        return dg.AssetCheckResult(
            passed=True, metadata={"votes": 0 if frame is None else len(frame)}
        )
    orders = frame.group_by("instruction_id", "model_a", "model_b", "judge").agg(
        pl.col("order").n_unique().alias("n")
    )
    missing = orders.filter(pl.col("n") != 2)
    return dg.AssetCheckResult(
        passed=missing.is_empty(), metadata={"pairs_missing_an_order": len(missing)}
    )


@dg.asset_check(asset="judgments", description="No judge voted on a battle it takes part in.")
def judges_are_uninvolved(arena: ArenaResource) -> dg.AssetCheckResult:
    frame = arena.lake_table_or_none("judgments")
    if frame is None or frame.is_empty():
        return dg.AssetCheckResult(passed=True)
    involved = frame.filter(
        (pl.col("judge") == pl.col("model_a")) | (pl.col("judge") == pl.col("model_b"))
    )
    return dg.AssetCheckResult(
        passed=involved.is_empty(), metadata={"self_judged_votes": len(involved)}
    )

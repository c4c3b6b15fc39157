-- One row per vote: an LLM judge's verdict on one presentation order of a battle, or the
-- execution judge's comparison of two responses' exec_score. Only enabled experts (competitors
-- and LLM judges). Pairs are normalized so model_a < model_b; winner is 'model_a', 'model_b',
-- 'tie' or 'invalid' and winner_expert names the winning expert.
-- Execution votes (judge = 'execution', judge_kind 'execution', presentation_order 'na'): one per
-- instruction and pair of responders that both have an exec_score; the higher score wins, equal
-- scores tie. Their weight is var('execution_judge_weight') (0 = no execution votes); LLM votes
-- weigh 1.
-- LLM votes weigh 1, except under `battles.schedule: adaptive`, where a battle asked of fewer
-- judges than the full schedule would ask (lake table battle_judges) weighs judges_full /
-- judges_asked per vote, so each battle carries the mass it has under `full` (Horvitz-Thompson
-- style): its local score estimates full's, and the race's extra votes on close battles do not
-- bias the ratings (bench_battle_schedule measures both).
-- Each LLM vote's weight is also multiplied by its judge's `weight` in the lake table
-- judge_reliability (judge_weight here): 1 under `judging.aggregate: vote`, the judge's reliability
-- weight under `reliability` (gpu_ops.arena.judge_reliability: Dawid-Skene from the judges'
-- agreement); a judge without a row weighs 1. Execution votes keep their configured weight.
-- Incremental (delete+insert on the vote key), behind a watermark: the lake writer stamps each
-- judgment row with first_seen_at (kept for unchanged rows when a judge's file is rewritten), so a
-- run reads only the LLM votes newer than the newest vote already here (DuckDB skips the older
-- Parquet row groups by their statistics), plus every vote of an enabled expert that has none
-- here yet (a re-enabled expert), plus every vote of a judge whose judge_weight changed (a new
-- reliability estimate, or judging.aggregate switched). Execution votes likewise: a pair is recomputed when either
-- result is newer than the newest execution vote here, and all of them when the execution weight
-- changed. A post-hook deletes votes of experts that are no longer enabled and execution votes
-- when the weight is 0 (both only when there is such a vote). Votes removed from the lake files
-- otherwise need `dbt build --full-refresh`.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['instruction_id', 'model_a', 'model_b', 'judge', 'presentation_order'],
        on_schema_change='append_new_columns',
        post_hook=["{{ delete_votes_of_left_experts() }}"]
    )
}}

{#- the watermark and the experts with no vote here yet (a re-enabled one), read at compile time
    so the filter is a constant that DuckDB pushes into the Parquet scan -#}
{%- set watermark = none -%}
{%- set execution_watermark = none -%}
{%- set execution_weight_changed = false -%}
{%- set unseen_experts = [] -%}
{%- set reweighed_judges = [] -%}
{%- set stamped = false -%}
{%- if is_incremental() and execute -%}
    {#- a table built before the lake had first_seen_at (or before judge_weight) gets the column
        now, and one full read -#}
    {%- set existing = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
    {%- set stamped = 'first_seen_at' in existing and 'judge_weight' in existing -%}
{%- endif -%}
{%- if stamped -%}
    {%- set marks = run_query(
        "select max(first_seen_at) filter (where judge_kind = 'llm'),"
        ~ " max(first_seen_at) filter (where judge_kind = 'execution'),"
        ~ " count(*) filter (where judge_kind = 'execution' and weight <> "
        ~ var('execution_judge_weight') ~ ") from " ~ this
    ).rows[0] -%}
    {%- set watermark = marks[0] -%}
    {%- set execution_watermark = marks[1] -%}
    {%- set execution_weight_changed = marks[2] > 0 -%}
    {%- set unseen = run_query(
        "select expert from " ~ ref('experts') ~ " except (select judge from " ~ this
        ~ " where judge_kind = 'llm' union select model_a from " ~ this
        ~ " union select model_b from " ~ this ~ ")"
    ) -%}
    {%- set unseen_experts = unseen.columns[0].values() | list -%}
    {%- set reweighed = run_query(
        "select distinct votes.judge from " ~ this ~ " as votes left join "
        ~ ref('stg_judge_reliability') ~ " as reliability on reliability.judge = votes.judge"
        ~ " where votes.judge_kind = 'llm'"
        ~ " and votes.judge_weight is distinct from coalesce(reliability.weight, 1.0)"
    ) -%}
    {%- set reweighed_judges = reweighed.columns[0].values() | list -%}
{%- endif %}

with experts as (
    select expert from {{ ref('experts') }}
),

judgments as (
    select * from {{ ref('stg_judgments') }}
    {%- if watermark is not none %}
    where first_seen_at > cast('{{ watermark }}' as timestamp)
    {%- endif %}
    {%- if watermark is not none and unseen_experts %}
    union all
    select * from {{ ref('stg_judgments') }}
    where first_seen_at <= cast('{{ watermark }}' as timestamp)
        and (
            judge in ({{ "'" ~ unseen_experts | join("', '") ~ "'" }})
            or model_a in ({{ "'" ~ unseen_experts | join("', '") ~ "'" }})
            or model_b in ({{ "'" ~ unseen_experts | join("', '") ~ "'" }})
        )
    {%- endif %}
    {%- if watermark is not none %}
    union
    -- every vote of a battle whose adaptive weight changed since the watermark
    select judged.* from {{ ref('stg_judgments') }} as judged
    semi join (
        select instruction_id, model_a, model_b from {{ ref('stg_battle_judges') }}
        where first_seen_at > cast('{{ watermark }}' as timestamp)
    ) as reweighed using (instruction_id, model_a, model_b)
    where judged.first_seen_at <= cast('{{ watermark }}' as timestamp)
    {%- endif %}
    {%- if watermark is not none and reweighed_judges %}
    union
    -- every vote of a judge whose reliability weight changed since the last build
    select * from {{ ref('stg_judgments') }}
    where first_seen_at <= cast('{{ watermark }}' as timestamp)
        and judge in ({{ "'" ~ reweighed_judges | join("', '") ~ "'" }})
    {%- endif %}
),

judge_weights as (
    select judge as weighted_judge, weight as judge_weight
    from {{ ref('stg_judge_reliability') }}
),

battle_weights as (
    select
        instruction_id as weighted_instruction,
        least(model_a, model_b) as weighted_a,
        greatest(model_a, model_b) as weighted_b,
        max(judges_full) / count(distinct judge) as llm_weight
    from {{ ref('stg_battle_judges') }}
    where judge in (select expert from experts)
    group by all
),

llm_votes as (
    select
        instruction_id,
        least(model_a, model_b) as model_a,
        greatest(model_a, model_b) as model_b,
        judge,
        'llm' as judge_kind,
        presentation_order,
        judge_mode,
        shown_first,
        verdict,
        case verdict
            when 'first' then shown_first
            when 'second' then shown_second
        end as winner_expert,
        cast(coalesce(battle_weights.llm_weight, 1.0) as double)
            * cast(coalesce(judge_weights.judge_weight, 1.0) as double) as weight,
        cast(coalesce(judge_weights.judge_weight, 1.0) as double) as judge_weight,
        md5(concat_ws('|', prompt_hash, verdict, shown_first, shown_second)) as vote_fingerprint,
        first_seen_at
    from judgments
    left join battle_weights
        on battle_weights.weighted_instruction = judgments.instruction_id
        and battle_weights.weighted_a = least(judgments.model_a, judgments.model_b)
        and battle_weights.weighted_b = greatest(judgments.model_a, judgments.model_b)
    left join judge_weights
        on judge_weights.weighted_judge = judgments.judge
    where judge in (select expert from experts)
        and model_a in (select expert from experts)
        and model_b in (select expert from experts)
),

execution as (
    select instruction_id, responder, exec_score, first_seen_at
    from {{ ref('stg_execution_results') }}
    where exec_score is not null
        and responder in (select expert from experts)
),

execution_votes as (
    select
        execution_a.instruction_id,
        execution_a.responder as model_a,
        execution_b.responder as model_b,
        'execution' as judge,
        'execution' as judge_kind,
        'na' as presentation_order,
        'execution' as judge_mode,
        cast(null as varchar) as shown_first,
        cast(null as varchar) as verdict,
        case
            when execution_a.exec_score > execution_b.exec_score then execution_a.responder
            when execution_a.exec_score < execution_b.exec_score then execution_b.responder
        end as winner_expert,
        cast({{ var('execution_judge_weight') }} as double) as weight,
        cast(null as double) as judge_weight,
        md5(concat_ws('|', execution_a.exec_score, execution_b.exec_score, {{ var('execution_judge_weight') }}))
            as vote_fingerprint,
        greatest(execution_a.first_seen_at, execution_b.first_seen_at) as first_seen_at
    from execution as execution_a
    inner join execution as execution_b
        on execution_a.instruction_id = execution_b.instruction_id
        and execution_a.responder < execution_b.responder
    where {{ var('execution_judge_weight') }} > 0
    {%- if execution_watermark is not none and not execution_weight_changed %}
        and (
            greatest(execution_a.first_seen_at, execution_b.first_seen_at)
                > cast('{{ execution_watermark }}' as timestamp)
            {%- if unseen_experts %}
            or execution_a.responder in ({{ "'" ~ unseen_experts | join("', '") ~ "'" }})
            or execution_b.responder in ({{ "'" ~ unseen_experts | join("', '") ~ "'" }})
            {%- endif %}
        )
    {%- endif %}
),

all_votes as (
    select * from llm_votes
    union all
    select * from execution_votes
),

votes as (
    select
        instruction_id,
        model_a,
        model_b,
        judge,
        judge_kind,
        presentation_order,
        judge_mode,
        shown_first,
        verdict,
        case
            when verdict = 'first' then 'first'
            when verdict = 'second' then 'second'
        end as picked_position,
        case
            when winner_expert = model_a then 'model_a'
            when winner_expert = model_b then 'model_b'
            when judge_kind = 'execution' or verdict = 'tie' then 'tie'
            else 'invalid'
        end as winner,
        winner_expert,
        weight,
        judge_weight,
        vote_fingerprint,
        first_seen_at
    from all_votes
)

select * from votes

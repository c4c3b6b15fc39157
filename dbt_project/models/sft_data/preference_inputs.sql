-- What preference pairs are chosen from: one row per battle of two enabled experts
-- (model_a < model_b) with its weighted votes over all judges, the LLM votes of each
-- presentation order apart (`ab`: model_a shown first, `ba`: model_b shown first), the judges
-- that gave a valid vote, and each side's execution evidence (null where its code did not run).
-- gpu_ops.sft_data.preferences keeps the decided battles: both orders name the same winner and
-- the vote margin reaches `preference.min_margin`.
-- Only battles on instructions still selected for battle count, as for the ratings
-- (`elo_battle_sequence`): `battle_votes` keeps votes whose lake rows were replaced (a new
-- mining seed, as each flywheel round has, selects new instructions), and their texts are gone.
with votes as (
    select * from {{ ref('battle_votes') }}
    where model_a in (select expert from {{ ref('experts') }})
        and model_b in (select expert from {{ ref('experts') }})
        and instruction_id in (select instruction_id from {{ ref('instructions_for_battle') }})
),

per_battle as (
    select
        instruction_id,
        model_a,
        model_b,
        coalesce(sum(weight) filter (where winner = 'model_a'), 0) as votes_a,
        coalesce(sum(weight) filter (where winner = 'model_b'), 0) as votes_b,
        coalesce(sum(weight) filter (where winner = 'tie'), 0) as ties,
        coalesce(sum(weight) filter (
            where judge_kind = 'llm' and presentation_order = 'ab' and winner = 'model_a'
        ), 0) as ab_votes_a,
        coalesce(sum(weight) filter (
            where judge_kind = 'llm' and presentation_order = 'ab' and winner = 'model_b'
        ), 0) as ab_votes_b,
        coalesce(sum(weight) filter (
            where judge_kind = 'llm' and presentation_order = 'ba' and winner = 'model_a'
        ), 0) as ba_votes_a,
        coalesce(sum(weight) filter (
            where judge_kind = 'llm' and presentation_order = 'ba' and winner = 'model_b'
        ), 0) as ba_votes_b,
        string_agg(distinct judge, ',' order by judge) filter (where winner <> 'invalid')
            as judges
    from votes
    group by instruction_id, model_a, model_b
),

execution as (
    select instruction_id, responder, exec_score, tests_passed, tests_found
    from {{ ref('stg_execution_results') }}
)

select
    per_battle.instruction_id,
    per_battle.model_a,
    per_battle.model_b,
    per_battle.votes_a,
    per_battle.votes_b,
    per_battle.ties,
    per_battle.ab_votes_a,
    per_battle.ab_votes_b,
    per_battle.ba_votes_a,
    per_battle.ba_votes_b,
    coalesce(per_battle.judges, '') as judges,
    execution_a.exec_score as exec_score_a,
    execution_b.exec_score as exec_score_b,
    execution_a.tests_passed as tests_passed_a,
    execution_b.tests_passed as tests_passed_b,
    execution_a.tests_found as tests_found_a,
    execution_b.tests_found as tests_found_b
from per_battle
left join execution as execution_a
    on per_battle.instruction_id = execution_a.instruction_id
    and per_battle.model_a = execution_a.responder
left join execution as execution_b
    on per_battle.instruction_id = execution_b.instruction_id
    and per_battle.model_b = execution_b.responder

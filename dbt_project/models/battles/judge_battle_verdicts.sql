-- One row per judge and battle (instruction and pair) it judged with a valid vote: the judge's
-- verdict on the battle, the sign of its votes (+1 per vote for model_a, -1 per vote for
-- model_b, 0 per tie; unweighted). A judge that flips with the presentation order nets to 0, a
-- tie: judge_agreement and judge_vs_execution compare judges on these verdicts.
-- The execution judge's verdicts come from the execution results themselves (the higher
-- exec_score wins, as battle_votes' execution votes), not from battle_votes: at
-- `judging.execution.weight: 0` it casts no vote, yet it stays the reference the LLM judges are
-- measured against.
with llm_votes as (
    select * from {{ ref('battle_votes') }}
    where winner <> 'invalid' and judge_kind = 'llm'
),

llm_verdicts as (
    select
        judge,
        any_value(judge_kind) as judge_kind,
        instruction_id,
        model_a,
        model_b,
        count(*) as n_votes,
        sign(sum(case winner when 'model_a' then 1 when 'model_b' then -1 else 0 end)) as verdict
    from llm_votes
    group by judge, instruction_id, model_a, model_b
),

execution as (
    select instruction_id, responder, exec_score
    from {{ ref('stg_execution_results') }}
    where exec_score is not null
        and responder in (select expert from {{ ref('experts') }})
),

execution_verdicts as (
    select
        'execution' as judge,
        'execution' as judge_kind,
        execution_a.instruction_id,
        execution_a.responder as model_a,
        execution_b.responder as model_b,
        cast(1 as bigint) as n_votes,
        case
            when execution_a.exec_score > execution_b.exec_score then 1
            when execution_a.exec_score < execution_b.exec_score then -1
            else 0
        end as verdict
    from execution as execution_a
    inner join execution as execution_b
        on execution_a.instruction_id = execution_b.instruction_id
        and execution_a.responder < execution_b.responder
)

select judge, judge_kind, instruction_id, model_a, model_b, n_votes, cast(verdict as integer) as verdict
from llm_verdicts
union all
select judge, judge_kind, instruction_id, model_a, model_b, n_votes, cast(verdict as integer) as verdict
from execution_verdicts

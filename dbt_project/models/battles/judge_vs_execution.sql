-- Each LLM judge against the execution judge, the ground truth where answers run against tests,
-- split by what execution said. A judge that never decides (always Tie, or flipping with the
-- presentation order) agrees on exactly the battles execution ties: no_skill_agreement is that
-- floor. agreement_on_decided: of the battles execution decides, the share where the judge
-- names the same winner; agreement_on_ties: of those execution ties, the share the judge ties.
with verdicts as (
    select * from {{ ref('judge_battle_verdicts') }}
),

execution_verdicts as (
    select instruction_id, model_a, model_b, verdict
    from verdicts
    where judge_kind = 'execution'
),

shared as (
    select
        llm.judge,
        execution.verdict <> 0 as execution_decided,
        llm.verdict = execution.verdict as agree
    from verdicts as llm
    inner join execution_verdicts as execution
        on llm.instruction_id = execution.instruction_id
        and llm.model_a = execution.model_a
        and llm.model_b = execution.model_b
    where llm.judge_kind = 'llm'
),

per_judge as (
    select
        judge,
        count(*) as shared_battles,
        count(*) filter (where agree) as agreements,
        count(*) filter (where execution_decided) as execution_decided,
        count(*) filter (where execution_decided and agree) as agreements_on_decided,
        count(*) filter (where not execution_decided) as execution_ties,
        count(*) filter (where not execution_decided and agree) as agreements_on_ties
    from shared
    group by judge
)

select
    judge,
    shared_battles,
    agreements,
    agreements / shared_battles as agreement_rate,
    execution_decided,
    agreements_on_decided / nullif(execution_decided, 0) as agreement_on_decided,
    execution_ties,
    agreements_on_ties / nullif(execution_ties, 0) as agreement_on_ties,
    execution_ties / shared_battles as no_skill_agreement
from per_judge
order by judge

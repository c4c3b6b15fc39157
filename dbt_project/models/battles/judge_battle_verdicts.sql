-- One row per judge and battle (instruction and pair) it judged with a valid vote: the judge's
-- verdict on the battle, the sign of its votes (+1 per vote for model_a, -1 per vote for
-- model_b, 0 per tie; unweighted). A judge that flips with the presentation order nets to 0, a
-- tie: judge_agreement and judge_vs_execution compare judges on these verdicts.
with valid_votes as (
    select * from {{ ref('battle_votes') }}
    where winner <> 'invalid'
)

select
    judge,
    any_value(judge_kind) as judge_kind,
    instruction_id,
    model_a,
    model_b,
    count(*) as n_votes,
    sign(sum(case winner when 'model_a' then 1 when 'model_b' then -1 else 0 end)) as verdict
from valid_votes
group by judge, instruction_id, model_a, model_b

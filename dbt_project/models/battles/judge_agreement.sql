-- Agreement between every two judges (judge_a < judge_b; the execution judge included) on the
-- battles (instruction and pair) both judged. A judge's verdict on a battle is the sign of its
-- valid votes (unweighted): +1 per vote for model_a, -1 per vote for model_b, 0 per tie, so a
-- judge that flips with the presentation order counts as a tie. agreement_rate = share of
-- shared battles where both verdicts are equal; null when they share none with a verdict.
with votes as (
    select * from {{ ref('battle_votes') }}
    where winner <> 'invalid'
),

judge_verdicts as (
    select
        judge,
        instruction_id,
        model_a,
        model_b,
        sign(sum(case winner when 'model_a' then 1 when 'model_b' then -1 else 0 end)) as verdict
    from votes
    group by judge, instruction_id, model_a, model_b
),

shared as (
    select
        verdicts_a.judge as judge_a,
        verdicts_b.judge as judge_b,
        verdicts_a.verdict = verdicts_b.verdict as agree
    from judge_verdicts as verdicts_a
    inner join judge_verdicts as verdicts_b
        on verdicts_a.instruction_id = verdicts_b.instruction_id
        and verdicts_a.model_a = verdicts_b.model_a
        and verdicts_a.model_b = verdicts_b.model_b
        and verdicts_a.judge < verdicts_b.judge
)

select
    judge_a,
    judge_b,
    count(*) as shared_battles,
    count(*) filter (where agree) as agreements,
    count(*) filter (where agree) / count(*) as agreement_rate
from shared
group by judge_a, judge_b
order by judge_a, judge_b

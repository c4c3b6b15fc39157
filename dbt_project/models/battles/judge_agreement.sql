-- Agreement between every two judges (judge_a < judge_b; the execution judge included) on the
-- battles (instruction and pair) both judged, on their battle verdicts (judge_battle_verdicts:
-- a judge that flips with the presentation order counts as a tie). agreement_rate = share of
-- shared battles where both verdicts are equal.
with verdicts as (
    select * from {{ ref('judge_battle_verdicts') }}
),

shared as (
    select
        verdicts_a.judge as judge_a,
        verdicts_b.judge as judge_b,
        verdicts_a.verdict = verdicts_b.verdict as agree
    from verdicts as verdicts_a
    inner join verdicts as verdicts_b
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

-- title: Judge agreement
-- description: For every two judges (the execution judge included), the share of battles they
--   both judged on which their verdicts (model_a, model_b or tie) agree.
-- columns: judge_a, judge_b, shared_battles, agreements, agreement_rate
select
    judge_a,
    judge_b,
    shared_battles,
    agreements,
    round(agreement_rate, 3) as agreement_rate
from judge_agreement
order by agreement_rate desc, judge_a, judge_b

-- title: LLM judges against execution
-- description: Each LLM judge's agreement with the execution judge, split by what execution
--   said: on the battles it decides (same winner) and on those it ties (judge ties or flips).
--   no_skill is what a judge that never decides would score: an agreement near it adds nothing.
-- columns: judge, shared_battles, agreement, on_decided, on_ties, no_skill, lift
select
    judge,
    shared_battles,
    round(agreement_rate, 3) as agreement,
    round(agreement_on_decided, 3) as on_decided,
    round(agreement_on_ties, 3) as on_ties,
    round(no_skill_agreement, 3) as no_skill,
    round(agreement_rate - no_skill_agreement, 3) as lift
from judge_vs_execution
order by lift desc, judge

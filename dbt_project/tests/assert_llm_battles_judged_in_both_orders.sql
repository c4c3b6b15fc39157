-- Every LLM judge that judged a battle (instruction and pair) judged it in both presentation
-- orders (ab and ba), so position bias can be measured and cancels out in the counts.
-- Returns the offending (instruction, pair, judge) rows. battle_votes has one row per
-- (instruction, pair, judge, order) (a tested key), so min/max of the order say it all and
-- cost far less than count(distinct) at 10M votes.
select
    instruction_id,
    model_a,
    model_b,
    judge,
    min(presentation_order) as first_order,
    max(presentation_order) as last_order
from {{ ref('battle_votes') }}
where judge_kind = 'llm'
group by instruction_id, model_a, model_b, judge
having min(presentation_order) <> 'ab' or max(presentation_order) <> 'ba'

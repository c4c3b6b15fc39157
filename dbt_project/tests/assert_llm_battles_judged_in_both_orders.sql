-- Every LLM judge that judged a battle (instruction and pair) judged it in both presentation
-- orders (ab and ba), so position bias can be measured and cancels out in the counts.
-- Returns the offending (instruction, pair, judge) rows.
select
    instruction_id,
    model_a,
    model_b,
    judge,
    count(distinct presentation_order) as n_orders
from {{ ref('battle_votes') }}
where judge_kind = 'llm'
group by instruction_id, model_a, model_b, judge
having count(distinct presentation_order) <> 2

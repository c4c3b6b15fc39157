-- One row per instruction and pair (model_a < model_b): the weighted votes of all judges
-- (LLM and execution). local_score_a is the paper's local score x_i(A>B) =
-- votes_a / (votes_a + votes_b), null when no vote is decisive; local_score_b = 1 - local_score_a.
-- both_orders_agree is, over LLM judges that gave a valid verdict (not invalid) in both
-- presentation orders, the share whose two verdicts name the same winner (or both tie);
-- null when no judge qualifies.
with votes as (
    select * from {{ ref('battle_votes') }}
),

counted as (
    select
        instruction_id,
        model_a,
        model_b,
        sum(weight) filter (where winner = 'model_a') as votes_a,
        sum(weight) filter (where winner = 'model_b') as votes_b,
        sum(weight) filter (where winner = 'tie') as ties,
        count(*) filter (where winner = 'invalid') as invalid,
        count(*) as n_votes,
        count(distinct judge) as n_judges
    from votes
    group by instruction_id, model_a, model_b
),

judge_orders as (
    select
        instruction_id,
        model_a,
        model_b,
        judge,
        count(distinct winner) = 1 as orders_agree
    from votes
    where judge_kind = 'llm' and winner <> 'invalid'
    group by instruction_id, model_a, model_b, judge
    having count(distinct presentation_order) = 2
),

agreement as (
    select
        instruction_id,
        model_a,
        model_b,
        avg(case when orders_agree then 1.0 else 0.0 end) as both_orders_agree
    from judge_orders
    group by instruction_id, model_a, model_b
),

scored as (
    select
        counted.instruction_id,
        counted.model_a,
        counted.model_b,
        coalesce(counted.votes_a, 0) as votes_a,
        coalesce(counted.votes_b, 0) as votes_b,
        coalesce(counted.ties, 0) as ties,
        counted.invalid,
        counted.n_votes,
        counted.n_judges,
        coalesce(counted.votes_a, 0) / nullif(coalesce(counted.votes_a, 0) + coalesce(counted.votes_b, 0), 0)
            as local_score_a,
        agreement.both_orders_agree
    from counted
    left join agreement
        on counted.instruction_id = agreement.instruction_id
        and counted.model_a = agreement.model_a
        and counted.model_b = agreement.model_b
)

select
    instruction_id,
    model_a,
    model_b,
    votes_a,
    votes_b,
    ties,
    invalid,
    n_votes,
    n_judges,
    local_score_a,
    1 - local_score_a as local_score_b,
    both_orders_agree
from scored
order by instruction_id, model_a, model_b

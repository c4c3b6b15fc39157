-- One row per instruction and pair (model_a < model_b): the weighted votes of all judges
-- (LLM and execution). local_score_a is the paper's local score x_i(A>B) =
-- votes_a / (votes_a + votes_b), null when no vote is decisive; local_score_b = 1 - local_score_a.
-- both_orders_agree is, over LLM judges that gave a valid verdict (not invalid) in both
-- presentation orders, the share whose two verdicts name the same winner (or both tie);
-- null when no judge qualifies.
-- Two-level aggregation (per judge, then per battle) instead of count(distinct ...): a judge has at
-- most one vote per presentation order (the battle_votes key), so "both orders" is count = 2 and
-- "the two verdicts agree" is min(winner) = max(winner); about 3x faster at 1M votes.
with votes as (
    select * from {{ ref('battle_votes') }}
),

per_judge as (
    select
        instruction_id,
        model_a,
        model_b,
        judge,
        sum(weight) filter (where winner = 'model_a') as votes_a,
        sum(weight) filter (where winner = 'model_b') as votes_b,
        sum(weight) filter (where winner = 'tie') as ties,
        count(*) filter (where winner = 'invalid') as invalid,
        count(*) as n_votes,
        count(*) filter (where judge_kind = 'llm' and winner <> 'invalid') as n_valid_llm,
        min(winner) filter (where judge_kind = 'llm' and winner <> 'invalid') as min_winner,
        max(winner) filter (where judge_kind = 'llm' and winner <> 'invalid') as max_winner
    from votes
    group by instruction_id, model_a, model_b, judge
),

counted as (
    select
        instruction_id,
        model_a,
        model_b,
        sum(votes_a) as votes_a,
        sum(votes_b) as votes_b,
        sum(ties) as ties,
        cast(sum(invalid) as bigint) as invalid,
        cast(sum(n_votes) as bigint) as n_votes,
        count(*) as n_judges,
        avg(case when min_winner = max_winner then 1.0 else 0.0 end)
            filter (where n_valid_llm = 2) as both_orders_agree
    from per_judge
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
        counted.both_orders_agree
    from counted
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

-- Position bias of each LLM judge. first_pick_share: among its decisive votes (first or
-- second), the share that picked the response shown first (0.5 = no position bias).
-- flip_rate: among battles it judged in both presentation orders with two valid verdicts, the
-- share where the two verdicts name different winners (a position-driven judge flips).
with votes as (
    select * from {{ ref('battle_votes') }}
    where judge_kind = 'llm'
),

per_judge as (
    select
        judge,
        count(*) as n_votes,
        count(*) filter (where picked_position is not null) as n_decisive,
        count(*) filter (where picked_position = 'first') as n_first_picks,
        count(*) filter (where winner = 'tie') as n_ties,
        count(*) filter (where winner = 'invalid') as n_invalid
    from votes
    group by judge
),

-- A judge has at most one vote per presentation order (the battle_votes key), so count(*) = 2
-- means both orders and min <> max a flip (cheaper than count(distinct ...) per battle).
order_pairs as (
    select
        judge,
        min(winner) <> max(winner) as flipped
    from votes
    where winner <> 'invalid'
    group by judge, instruction_id, model_a, model_b
    having count(*) = 2
),

flips as (
    select
        judge,
        count(*) as n_order_pairs,
        count(*) filter (where flipped) as n_flips
    from order_pairs
    group by judge
)

select
    per_judge.judge,
    per_judge.n_votes,
    per_judge.n_decisive,
    per_judge.n_first_picks,
    per_judge.n_first_picks / nullif(per_judge.n_decisive, 0) as first_pick_share,
    per_judge.n_ties / per_judge.n_votes as tie_rate,
    per_judge.n_invalid / per_judge.n_votes as invalid_rate,
    coalesce(flips.n_order_pairs, 0) as n_order_pairs,
    coalesce(flips.n_flips, 0) as n_flips,
    flips.n_flips / nullif(flips.n_order_pairs, 0) as flip_rate
from per_judge
left join flips on per_judge.judge = flips.judge
order by per_judge.judge

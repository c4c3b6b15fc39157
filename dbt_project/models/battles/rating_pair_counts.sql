-- What the rating fit needs: per pair (model_a < model_b), the weighted count of votes won by
-- each side and of ties, over all valid votes (invalid votes are left out) of all judges.
-- Bradley-Terry and its bootstrap work on these few rows instead of every vote.
with votes as (
    select * from {{ ref('battle_votes') }}
    where winner <> 'invalid'
),

counts as (
    select
        model_a,
        model_b,
        coalesce(sum(weight) filter (where winner = 'model_a'), 0) as wins_a,
        coalesce(sum(weight) filter (where winner = 'model_b'), 0) as wins_b,
        coalesce(sum(weight) filter (where winner = 'tie'), 0) as ties,
        count(*) as n_votes
    from votes
    group by model_a, model_b
)

select * from counts
order by model_a, model_b

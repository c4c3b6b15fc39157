-- Head-to-head record of every ordered pair (model, opponent), both directions, from the
-- weighted valid votes of battle_votes. win_rate = wins / (wins + losses), ties left out;
-- null when every vote tied.
with pair_counts as (
    select * from {{ ref('rating_pair_counts') }}
),

both_directions as (
    select
        model_a as model,
        model_b as opponent,
        wins_a as wins,
        wins_b as losses,
        ties
    from pair_counts
    union all
    select
        model_b as model,
        model_a as opponent,
        wins_b as wins,
        wins_a as losses,
        ties
    from pair_counts
)

select
    model,
    opponent,
    wins,
    losses,
    ties,
    wins + losses + ties as games,
    wins / nullif(wins + losses, 0) as win_rate
from both_directions
order by model, opponent

-- Global ratings written by the ratings stage (Bradley-Terry with bootstrap confidence
-- intervals, and online Elo), with each expert's rank within its method (1 = best).
with ratings as (
    select * from {{ ref('stg_expert_ratings') }}
)

select
    method,
    rank() over (partition by method order by rating desc) as rank,
    expert,
    rating,
    ci_lower,
    ci_upper,
    ci_upper - ci_lower as ci_width,
    rank_ci,
    games,
    wins,
    losses,
    ties,
    weighted_games,
    win_rate
from ratings
order by method, rank, expert

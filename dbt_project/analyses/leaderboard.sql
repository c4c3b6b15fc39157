-- title: Leaderboard
-- description: Global ratings per method (bt = Bradley-Terry with bootstrap 95% confidence
--   intervals, elo = online Elo), best first, with the vote record behind each rating.
-- columns: method, rank (1 = best within the method), expert, rating, ci_lower, ci_upper,
--   ci_width, games, wins, losses, ties, win_rate
select
    method,
    rank,
    expert,
    round(rating, 1) as rating,
    round(ci_lower, 1) as ci_lower,
    round(ci_upper, 1) as ci_upper,
    round(ci_width, 1) as ci_width,
    games,
    wins,
    losses,
    ties,
    round(win_rate, 3) as win_rate
from leaderboard
order by method, rank, expert

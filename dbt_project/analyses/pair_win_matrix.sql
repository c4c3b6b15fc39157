-- title: Pairwise win matrix
-- description: Win rate of each row model against each column opponent (wins / (wins + losses)
--   over weighted valid votes, ties left out), one column per expert; the diagonal is empty.
-- columns: model, then one column per opponent expert (win rate of model against it)
pivot (select model, opponent, round(win_rate, 3) as win_rate from pair_win_matrix)
on opponent
using first(win_rate)
group by model
order by model

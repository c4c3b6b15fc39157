-- title: Instructions won by expert
-- description: How many SFT targets each expert's response won, its share of all SFT rows, how
--   many of those were on instructions it mined itself, and its mean winning score and margin.
-- columns: winner, n_won, share_of_all, n_won_on_own_instructions, mean_winner_score,
--   mean_margin
select
    winner,
    cast(sum(n_won) as bigint) as n_won,
    round(sum(n_won) / sum(sum(n_won)) over (), 3) as share_of_all,
    cast(coalesce(sum(n_won) filter (where miner = winner), 0) as bigint) as n_won_on_own_instructions,
    round(sum(mean_winner_score * n_won) / sum(n_won), 3) as mean_winner_score,
    round(sum(mean_margin * n_won) / sum(n_won), 3) as mean_margin
from sft_winners_summary
group by winner
order by n_won desc, winner

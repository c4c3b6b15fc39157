-- title: Judge position bias
-- description: How often each LLM judge picks the response shown first among its decisive votes
--   (0.5 = no bias) and how often its verdict flips when the two responses swap places.
-- columns: judge, n_votes, n_decisive, first_pick_share, flip_rate, n_order_pairs, tie_rate,
--   invalid_rate
select
    judge,
    n_votes,
    n_decisive,
    round(first_pick_share, 3) as first_pick_share,
    round(flip_rate, 3) as flip_rate,
    n_order_pairs,
    round(tie_rate, 3) as tie_rate,
    round(invalid_rate, 3) as invalid_rate
from judge_position_bias
order by abs(first_pick_share - 0.5) desc nulls last, judge

-- How many SFT targets each expert won, split by the expert that mined the instruction:
-- shows whether experts win mostly on their own instructions.
with winners as (
    select * from {{ ref('stg_sft_winners') }}
)

select
    winner,
    miner,
    count(*) as n_won,
    count(*) / sum(count(*)) over (partition by winner) as share_of_winner_wins,
    avg(winner_score) as mean_winner_score,
    avg(winner_score - runner_up_score) as mean_margin
from winners
group by winner, miner
order by winner, miner

-- title: Cleaning drop reasons
-- description: Mined rows by cleaning outcome (kept, or the drop reason: empty, truncated,
--   too_short, too_long, not_an_instruction, reserved) per miner and overall ('(all)').
-- columns: miner, outcome, n_rows, share_of_miner
with outcomes as (
    select miner, coalesce(drop_reason, 'kept') as outcome
    from instructions_screened
    union all
    select '(all)' as miner, coalesce(drop_reason, 'kept') as outcome
    from instructions_screened
)

select
    miner,
    outcome,
    count(*) as n_rows,
    round(count(*) / sum(count(*)) over (partition by miner), 3) as share_of_miner
from outcomes
group by miner, outcome
order by miner = '(all)', miner, outcome = 'kept' desc, n_rows desc, outcome

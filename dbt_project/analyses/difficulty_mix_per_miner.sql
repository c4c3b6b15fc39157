-- title: Difficulty mix per miner
-- description: For each miner, how its deduplicated instructions spread over the difficulty
--   buckets (excellent 9-10, good 6-8, average 3-5, poor 1-2, unscored), its mean score and the
--   share kept for selection.
-- columns: miner, n_instructions, excellent, good, average, poor, unscored, mean_score,
--   kept_share
with difficulty as (
    select
        instructions_dedup.miner,
        instruction_difficulty.bucket,
        instruction_difficulty.mean_score,
        instruction_difficulty.kept
    from instruction_difficulty
    inner join instructions_dedup
        on instruction_difficulty.instruction_id = instructions_dedup.instruction_id
)

select
    miner,
    count(*) as n_instructions,
    count(*) filter (where bucket = 'excellent') as excellent,
    count(*) filter (where bucket = 'good') as good,
    count(*) filter (where bucket = 'average') as average,
    count(*) filter (where bucket = 'poor') as poor,
    count(*) filter (where bucket is null) as unscored,
    round(avg(mean_score), 2) as mean_score,
    round(avg(case when kept then 1.0 else 0.0 end), 3) as kept_share
from difficulty
group by miner
order by miner

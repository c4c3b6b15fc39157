-- Deduplicated instructions good enough to keep (instruction_difficulty.kept), with their text
-- and difficulty: the pool the embedding and KCenterGreedy selection work on.
with instructions as (
    select * from {{ ref('instructions_dedup') }}
),

difficulty as (
    select * from {{ ref('instruction_difficulty') }}
    where kept
),

kept as (
    select
        instructions.instruction_id,
        instructions.instruction,
        instructions.miner,
        instructions.language,
        difficulty.mean_score,
        difficulty.n_scores,
        difficulty.bucket
    from instructions
    inner join difficulty on instructions.instruction_id = difficulty.instruction_id
)

select * from kept
order by instruction_id

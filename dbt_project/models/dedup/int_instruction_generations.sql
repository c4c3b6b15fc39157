-- Each clean instruction with the generation of its miner (expert_registry.joined_generation;
-- 0 for a miner the registry does not know) and its place in survivor order: generation, then
-- instruction_id. Dedup never lets a later generation displace an earlier one.
with clean as (
    select instruction_id, miner, normalized_hash from {{ ref('instructions_clean') }}
),

miner_generations as (
    select expert as miner, joined_generation from {{ ref('stg_expert_registry') }}
),

with_generation as (
    select
        clean.instruction_id,
        clean.miner,
        clean.normalized_hash,
        coalesce(miner_generations.joined_generation, 0) as generation
    from clean
    left join miner_generations on clean.miner = miner_generations.miner
)

select
    *,
    row_number() over (order by generation, instruction_id) as survivor_order
from with_generation

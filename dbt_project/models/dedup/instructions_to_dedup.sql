-- What the dedup stage reads: each clean instruction with its miner's generation (when the
-- miner joined the arena; 0 for a miner the registry does not know), so an expert that joins
-- later never displaces an instruction of an earlier generation.
select
    clean.instruction_id,
    clean.instruction,
    coalesce(registry.joined_generation, 0) as generation
from {{ ref('instructions_clean') }} as clean
left join {{ ref('stg_expert_registry') }} as registry
    on clean.miner = registry.expert
order by clean.instruction_id

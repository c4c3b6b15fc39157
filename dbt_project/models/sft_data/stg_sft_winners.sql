{{ config(materialized='view') }}

-- Typed view over the lake table `sft_winners` (rename and cast only). Generated from
-- gpu_ops/lake_schemas.py by scripts/generate_lake_sources.py: edit those, not this.
with source as (
    {{ lake_source('sft_winners') }}
),

renamed as (
    select
        cast(instruction_id as varchar) as instruction_id,
        cast(instruction as varchar) as instruction,
        cast(miner as varchar) as miner,
        cast(winner as varchar) as winner,
        cast(response as varchar) as response,
        cast(winner_score as double) as winner_score,
        cast(runner_up as varchar) as runner_up,
        cast(runner_up_score as double) as runner_up_score,
        cast(global_component as double) as global_component,
        cast(local_component as double) as local_component,
        cast(votes_for as double) as votes_for,
        cast(votes_against as double) as votes_against,
        cast(rating_method as varchar) as rating_method,
        cast(alpha as double) as alpha
    from source
)

select * from renamed

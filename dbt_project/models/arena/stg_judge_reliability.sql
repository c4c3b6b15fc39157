{{ config(materialized='view') }}

-- Typed view over the lake table `judge_reliability` (rename and cast only). Generated from
-- gpu_ops/lake_schemas.py by scripts/generate_lake_sources.py: edit those, not this.
with source as (
    {{ lake_source('judge_reliability') }}
),

renamed as (
    select
        cast(judge as varchar) as judge,
        cast(battles as bigint) as battles,
        cast(shared_battles as bigint) as shared_battles,
        cast(estimated as boolean) as estimated,
        cast(accuracy as double) as accuracy,
        cast(log_odds as double) as log_odds,
        cast(reliability_weight as double) as reliability_weight,
        cast(aggregate as varchar) as aggregate,
        cast(weight as double) as weight,
        cast(note as varchar) as note
    from source
)

select * from renamed

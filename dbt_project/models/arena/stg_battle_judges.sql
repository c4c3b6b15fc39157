{{ config(materialized='view') }}

-- Typed view over the lake table `battle_judges` (rename and cast only). Generated from
-- gpu_ops/lake_schemas.py by scripts/generate_lake_sources.py: edit those, not this.
-- depends_on: {{ ref('stg_judgments') }}
with source as (
    {{ lake_source('battle_judges') }}
),

renamed as (
    select
        cast(instruction_id as varchar) as instruction_id,
        cast(model_a as varchar) as model_a,
        cast(model_b as varchar) as model_b,
        cast(judge as varchar) as judge,
        cast(judges_full as bigint) as judges_full,
        cast(first_seen_at as timestamp) as first_seen_at
    from source
)

select * from renamed

{{ config(materialized='view') }}

-- Typed view over the lake table `judging_schedule` (rename and cast only). Generated from
-- gpu_ops/lake_schemas.py by scripts/generate_lake_sources.py: edit those, not this.
-- depends_on: {{ ref('stg_judgments') }}
with source as (
    {{ lake_source('judging_schedule') }}
),

renamed as (
    select
        cast(judge as varchar) as judge,
        cast(schedule as varchar) as schedule,
        cast(battles_full as bigint) as battles_full,
        cast(battles_judged as bigint) as battles_judged,
        cast(calls_full as bigint) as calls_full,
        cast(calls_spent as bigint) as calls_spent
    from source
)

select * from renamed

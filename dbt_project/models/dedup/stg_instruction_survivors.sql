{{ config(materialized='view') }}

-- Typed view over the lake table `instruction_survivors` (rename and cast only). Generated from
-- gpu_ops/lake_schemas.py by scripts/generate_lake_sources.py: edit those, not this.
with source as (
    {{ lake_source('instruction_survivors') }}
),

renamed as (
    select
        cast(instruction_id as varchar) as instruction_id,
        cast(survivor_id as varchar) as survivor_id,
        cast(reason as varchar) as reason,
        cast(estimated_jaccard as double) as estimated_jaccard,
        cast(generation as bigint) as generation
    from source
)

select * from renamed

{{ config(materialized='view') }}

-- Typed view over the lake table `instructions_selected` (rename and cast only). Generated from
-- gpu_ops/lake_schemas.py by scripts/generate_lake_sources.py: edit those, not this.
with source as (
    {{ lake_source('instructions_selected') }}
),

renamed as (
    select
        cast(instruction_id as varchar) as instruction_id,
        cast(selection_rank as bigint) as selection_rank,
        cast(coverage_radius as double) as coverage_radius,
        cast(embedding_model as varchar) as embedding_model
    from source
)

select * from renamed

{{ config(materialized='view') }}

-- Typed view over the lake table `instructions_selected` (rename and cast only).
with source as (
    {{ lake_source('instructions_selected') }}
),

renamed as (
    select
        cast(instruction_id as varchar) as instruction_id,
        cast(selection_rank as integer) as selection_rank,
        cast(coverage_radius as double) as coverage_radius,
        cast(embedding_model as varchar) as embedding_model
    from source
)

select * from renamed

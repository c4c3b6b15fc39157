{{ config(materialized='view') }}

-- Typed view over the lake table `instruction_survivors` (rename and cast only).
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

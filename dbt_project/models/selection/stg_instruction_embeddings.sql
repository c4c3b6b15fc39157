{{ config(materialized='view') }}

-- Typed view over the lake table `instruction_embeddings` (rename and cast only).
with source as (
    {{ lake_source('instruction_embeddings') }}
),

renamed as (
    select
        cast(instruction_id as varchar) as instruction_id,
        cast(model as varchar) as embedding_model,
        cast(embedding as float[]) as embedding
    from source
)

select * from renamed

{{ config(materialized='view') }}

-- Typed view over the lake table `instruction_embeddings` (rename and cast only). Generated from
-- gpu_ops/lake_schemas.py by scripts/generate_lake_sources.py: edit those, not this.
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

{{ config(materialized='view') }}

-- Typed view over the lake table `instruction_scores` (rename and cast only). Generated from
-- gpu_ops/lake_schemas.py by scripts/generate_lake_sources.py: edit those, not this.
with source as (
    {{ lake_source('instruction_scores') }}
),

renamed as (
    select
        cast(instruction_id as varchar) as instruction_id,
        cast(scorer as varchar) as scorer,
        cast(mode as varchar) as score_mode,
        cast(score as bigint) as score,
        cast(expected_score as double) as expected_score,
        cast(parsed as boolean) as parsed,
        cast(raw_reply as varchar) as raw_reply,
        cast(prompt_hash as varchar) as prompt_hash,
        cast(prompt_tokens as bigint) as prompt_tokens,
        cast(completion_tokens as bigint) as completion_tokens
    from source
)

select * from renamed

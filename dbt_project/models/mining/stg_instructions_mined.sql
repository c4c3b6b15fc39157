{{ config(materialized='view') }}

-- Typed view over the lake table `instructions_mined` (rename and cast only). Generated from
-- gpu_ops/lake_schemas.py by scripts/generate_lake_sources.py: edit those, not this.
with source as (
    {{ lake_source('instructions_mined') }}
),

renamed as (
    select
        cast(mined_id as varchar) as mined_id,
        cast(expert as varchar) as miner,
        cast(language as varchar) as language,
        cast(setting_id as varchar) as setting_id,
        cast(temperature as double) as temperature,
        cast(top_p as double) as top_p,
        cast(max_new_tokens as bigint) as max_new_tokens,
        cast(seed as bigint) as seed,
        cast(sample_index as bigint) as sample_index,
        cast(model_id as varchar) as model_id,
        cast(prompt_hash as varchar) as prompt_hash,
        cast(raw_text as varchar) as raw_text,
        cast(prompt_tokens as bigint) as prompt_tokens,
        cast(completion_tokens as bigint) as completion_tokens,
        cast(finish_reason as varchar) as finish_reason,
        cast(reserved_reason as varchar) as reserved_reason
    from source
)

select * from renamed

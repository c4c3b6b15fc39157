{{ config(materialized='view') }}

-- Typed view over the lake table `judgments` (rename and cast only). Generated from
-- gpu_ops/lake_schemas.py by scripts/generate_lake_sources.py: edit those, not this.
with source as (
    {{ lake_source('judgments') }}
),

renamed as (
    select
        cast(instruction_id as varchar) as instruction_id,
        cast(judge as varchar) as judge,
        cast(model_a as varchar) as model_a,
        cast(model_b as varchar) as model_b,
        cast(shown_first as varchar) as shown_first,
        cast(shown_second as varchar) as shown_second,
        cast("order" as varchar) as presentation_order,
        cast(mode as varchar) as judge_mode,
        cast(verdict as varchar) as verdict,
        cast(p_first as double) as p_first,
        cast(p_second as double) as p_second,
        cast(p_tie as double) as p_tie,
        cast(raw_reply as varchar) as raw_reply,
        cast(prompt_hash as varchar) as prompt_hash,
        cast(prompt_tokens as bigint) as prompt_tokens,
        cast(completion_tokens as bigint) as completion_tokens,
        cast(first_seen_at as timestamp) as first_seen_at
    from source
)

select * from renamed

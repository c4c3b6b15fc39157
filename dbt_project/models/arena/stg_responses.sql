{{ config(materialized='view') }}

-- Typed view over the lake table `responses` (rename and cast only). Generated from
-- gpu_ops/lake_schemas.py by scripts/generate_lake_sources.py: edit those, not this.
with source as (
    {{ lake_source('responses') }}
),

renamed as (
    select
        cast(instruction_id as varchar) as instruction_id,
        cast(expert as varchar) as responder,
        cast(response as varchar) as response,
        cast(model_id as varchar) as model_id,
        cast(temperature as double) as temperature,
        cast(top_p as double) as top_p,
        cast(seed as bigint) as seed,
        cast(prompt_hash as varchar) as prompt_hash,
        cast(prompt_tokens as bigint) as prompt_tokens,
        cast(completion_tokens as bigint) as completion_tokens,
        cast(finish_reason as varchar) as finish_reason,
        cast(flag_empty as boolean) as flag_empty,
        cast(flag_enormous as boolean) as flag_enormous,
        cast(flag_truncated as boolean) as flag_truncated,
        cast(flag_nul_bytes as boolean) as flag_nul_bytes,
        cast(flag_replacement_chars as boolean) as flag_replacement_chars,
        cast(flag_control_chars as boolean) as flag_control_chars,
        cast(flag_injection_phrase as boolean) as flag_injection_phrase,
        cast(flag_verdict_token as boolean) as flag_verdict_token,
        cast(flag_verdict_in_code as boolean) as flag_verdict_in_code,
        cast(flag_judge_injection as boolean) as flag_judge_injection
    from source
)

select * from renamed

{{ config(materialized='view') }}

-- Typed view over the lake table `responses` (rename and cast only).
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
        cast(finish_reason as varchar) as finish_reason
    from source
)

select * from renamed

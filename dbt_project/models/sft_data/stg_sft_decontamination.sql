{{ config(materialized='view') }}

-- Typed view over the lake table `sft_decontamination` (rename and cast only). Generated from
-- gpu_ops/lake_schemas.py by scripts/generate_lake_sources.py: edit those, not this.
with source as (
    {{ lake_source('sft_decontamination') }}
),

renamed as (
    select
        cast(instruction_id as varchar) as instruction_id,
        cast(field as varchar) as field,
        cast(benchmark as varchar) as benchmark,
        cast(task_id as varchar) as task_id,
        cast(overlapping_ngrams as bigint) as overlapping_ngrams,
        cast(ngram_size as bigint) as ngram_size
    from source
)

select * from renamed

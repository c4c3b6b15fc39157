{{ config(materialized='view') }}

-- Typed view over the lake table `sft_decontamination` (rename and cast only).
with source as (
    {{ lake_source('sft_decontamination') }}
),

renamed as (
    select
        cast(instruction_id as varchar) as instruction_id,
        cast(field as varchar) as field,
        cast(benchmark as varchar) as benchmark,
        cast(task_id as varchar) as task_id,
        cast(overlapping_ngrams as integer) as overlapping_ngrams,
        cast(ngram_size as integer) as ngram_size
    from source
)

select * from renamed

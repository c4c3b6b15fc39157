{{ config(materialized='view') }}

-- Typed view over the lake table `preference_pairs` (rename and cast only). Generated from
-- gpu_ops/lake_schemas.py by scripts/generate_lake_sources.py: edit those, not this.
with source as (
    {{ lake_source('preference_pairs') }}
),

renamed as (
    select
        cast(instruction_id as varchar) as instruction_id,
        cast(instruction as varchar) as instruction,
        cast(chosen_model as varchar) as chosen_model,
        cast(rejected_model as varchar) as rejected_model,
        cast(chosen as varchar) as chosen,
        cast(rejected as varchar) as rejected,
        cast(margin as double) as margin,
        cast(votes_chosen as double) as votes_chosen,
        cast(votes_rejected as double) as votes_rejected,
        cast(ties as double) as ties,
        cast(judges as varchar[]) as judges,
        cast(exec_score_chosen as double) as exec_score_chosen,
        cast(exec_score_rejected as double) as exec_score_rejected
    from source
)

select * from renamed

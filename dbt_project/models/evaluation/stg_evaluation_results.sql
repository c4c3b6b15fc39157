{{ config(materialized='view') }}

-- Typed view over the lake table `evaluation_results` (rename and cast only). Generated from
-- gpu_ops/lake_schemas.py by scripts/generate_lake_sources.py: edit those, not this.
with source as (
    {{ lake_source('evaluation_results') }}
),

renamed as (
    select
        cast(model_label as varchar) as model_label,
        cast(model_path as varchar) as model_path,
        cast(benchmark as varchar) as benchmark,
        cast(task_id as varchar) as task_id,
        cast(sample_index as bigint) as sample_index,
        cast(passed as boolean) as passed,
        cast(error_kind as varchar) as error_kind,
        cast(isolation as varchar) as isolation
    from source
)

select * from renamed

{{ config(materialized='view') }}

-- Typed view over the lake table `execution_results` (rename and cast only). Generated from
-- gpu_ops/lake_schemas.py by scripts/generate_lake_sources.py: edit those, not this.
with source as (
    {{ lake_source('execution_results') }}
),

renamed as (
    select
        cast(instruction_id as varchar) as instruction_id,
        cast(expert as varchar) as responder,
        cast(has_code as boolean) as has_code,
        cast(parses as boolean) as parses,
        cast(runs as boolean) as runs,
        cast(tests_found as bigint) as tests_found,
        cast(tests_passed as bigint) as tests_passed,
        cast(exec_score as double) as exec_score,
        cast(error_kind as varchar) as error_kind,
        cast(isolation as varchar) as isolation,
        cast(first_seen_at as timestamp) as first_seen_at
    from source
)

select * from renamed

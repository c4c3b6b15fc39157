{{ config(materialized='view') }}

-- Typed view over the lake table `expert_registry` (rename and cast only). Generated from
-- gpu_ops/lake_schemas.py by scripts/generate_lake_sources.py: edit those, not this.
with source as (
    {{ lake_source('expert_registry') }}
),

renamed as (
    select
        cast(expert as varchar) as expert,
        cast(model as varchar) as model,
        cast(backend as varchar) as backend,
        cast(family as varchar) as family,
        cast(roles as varchar[]) as roles,
        cast(enabled as boolean) as enabled,
        cast(config_hash as varchar) as config_hash,
        cast(joined_generation as bigint) as joined_generation
    from source
)

select * from renamed

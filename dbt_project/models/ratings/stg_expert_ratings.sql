{{ config(materialized='view') }}

-- Typed view over the lake table `expert_ratings` (rename and cast only). Generated from
-- gpu_ops/lake_schemas.py by scripts/generate_lake_sources.py: edit those, not this.
with source as (
    {{ lake_source('expert_ratings') }}
),

renamed as (
    select
        cast(expert as varchar) as expert,
        cast(method as varchar) as method,
        cast(rating as double) as rating,
        cast(rating_online as double) as rating_online,
        cast(ci_lower as double) as ci_lower,
        cast(ci_upper as double) as ci_upper,
        cast(games as double) as games,
        cast(wins as double) as wins,
        cast(losses as double) as losses,
        cast(ties as double) as ties,
        cast(win_rate as double) as win_rate,
        cast(record as varchar) as record
    from source
)

select * from renamed

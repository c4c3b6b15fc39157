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
        cast(rank_ci as bigint) as rank_ci,
        cast(games as bigint) as games,
        cast(wins as bigint) as wins,
        cast(losses as bigint) as losses,
        cast(ties as bigint) as ties,
        cast(weighted_games as double) as weighted_games,
        cast(win_rate as double) as win_rate,
        cast(record as varchar) as record
    from source
)

select * from renamed

{{ config(materialized='view') }}

-- Typed view over the lake table `expert_ratings` (rename and cast only).
with source as (
    {{ lake_source('expert_ratings') }}
),

renamed as (
    select
        cast(expert as varchar) as expert,
        cast(method as varchar) as method,
        cast(rating as double) as rating,
        cast(ci_lower as double) as ci_lower,
        cast(ci_upper as double) as ci_upper,
        cast(rank_ci as bigint) as rank_ci,
        cast(games as bigint) as games,
        cast(wins as bigint) as wins,
        cast(losses as bigint) as losses,
        cast(ties as bigint) as ties,
        cast(weighted_games as double) as weighted_games,
        cast(win_rate as double) as win_rate
    from source
)

select * from renamed

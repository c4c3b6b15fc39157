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
        cast(games as double) as games,
        cast(wins as double) as wins,
        cast(losses as double) as losses,
        cast(ties as double) as ties,
        cast(win_rate as double) as win_rate
    from source
)

select * from renamed

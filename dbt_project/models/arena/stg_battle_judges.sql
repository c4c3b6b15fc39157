{{ config(materialized='view') }}

-- Typed view over the lake table `battle_judges` (rename and cast only). The judgments asset
-- writes it beside `judgments`: the ref below orders this view after that asset, so a run builds
-- it once the files exist (an earlier build would stand in an empty relation).
-- depends_on: {{ ref('stg_judgments') }}
with source as (
    {{ lake_source('battle_judges') }}
),

renamed as (
    select
        cast(instruction_id as varchar) as instruction_id,
        cast(model_a as varchar) as model_a,
        cast(model_b as varchar) as model_b,
        cast(judge as varchar) as judge,
        cast(judges_full as bigint) as judges_full,
        first_seen_at
    from source
)

select * from renamed

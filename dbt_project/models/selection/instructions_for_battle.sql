-- The KCenterGreedy-selected instructions with their text and miner, in pick order
-- (selection_rank 0 first): what every competitor answers. Picks that are no longer in
-- instructions_kept are left out.
with selected as (
    select * from {{ ref('stg_instructions_selected') }}
),

kept as (
    select * from {{ ref('instructions_kept') }}
),

for_battle as (
    select
        selected.instruction_id,
        selected.selection_rank,
        kept.instruction,
        kept.miner,
        kept.language,
        kept.mean_score,
        kept.bucket,
        selected.coverage_radius,
        selected.embedding_model
    from selected
    inner join kept on selected.instruction_id = kept.instruction_id
)

select * from for_battle
order by selection_rank

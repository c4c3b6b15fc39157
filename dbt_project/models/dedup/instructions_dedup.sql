-- The clean instructions that survive deduplication: one per duplicate group (its smallest id)
-- plus every instruction with no duplicate.
with clean as (
    select * from {{ ref('instructions_clean') }}
),

dropped as (
    select instruction_id from {{ ref('dedup_groups') }}
),

survivors as (
    select clean.*
    from clean
    anti join dropped on clean.instruction_id = dropped.instruction_id
)

select * from survivors
order by instruction_id

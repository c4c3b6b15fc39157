-- Every dropped duplicate mapped to its survivor. The groups are computed once, in Python, by the
-- dedup stage (gpu_ops.curation.dedup.find_duplicate_groups, written to the lake table
-- instruction_survivors); this mart only reads them. Rows whose instruction or survivor is no
-- longer in instructions_clean (a stale lake file) are ignored: the instruction stays.
-- dedup_reason is 'exact' when the dropped text normalizes to its survivor's, else
-- 'near_duplicate'.
with clean as (
    select instruction_id from {{ ref('instructions_clean') }}
),

survivors as (
    select * from {{ ref('stg_instruction_survivors') }}
),

dropped as (
    select survivors.*
    from survivors
    inner join clean on survivors.instruction_id = clean.instruction_id
    inner join clean as survivor_row on survivors.survivor_id = survivor_row.instruction_id
    where survivors.reason <> 'survivor'
),

mapped as (
    select
        instruction_id,
        survivor_id,
        count(*) over (partition by survivor_id) + 1 as group_size,
        case when reason = 'exact' then 'exact' else 'near_duplicate' end as dedup_reason,
        estimated_jaccard,
        generation
    from dropped
)

select * from mapped
order by instruction_id

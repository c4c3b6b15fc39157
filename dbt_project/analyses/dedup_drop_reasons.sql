-- title: Deduplication drop reasons
-- description: Clean instructions dropped as duplicates, by reason (exact = same normalized text
--   as the survivor, near_duplicate = MinHash Jaccard >= threshold, possibly through a chain),
--   plus the survivors ('kept'), with shares of all clean instructions.
-- columns: outcome (kept, exact, near_duplicate), n_instructions, share_of_clean, n_groups
--   (duplicate groups that dropped rows for this reason; null for kept)
with outcomes as (
    select
        coalesce(dedup_groups.dedup_reason, 'kept') as outcome,
        dedup_groups.survivor_id
    from instructions_clean
    left join dedup_groups on instructions_clean.instruction_id = dedup_groups.instruction_id
)

select
    outcome,
    count(*) as n_instructions,
    round(count(*) / sum(count(*)) over (), 3) as share_of_clean,
    case when outcome <> 'kept' then count(distinct survivor_id) end as n_groups
from outcomes
group by outcome
order by outcome = 'kept' desc, n_instructions desc, outcome

-- Every dropped duplicate mapped to its survivor. Groups are the connected components of the
-- duplicate graph (edges: dedup_candidate_pairs where is_duplicate, exact and minhash alike), so
-- a chain a~b~c is one group even when a and c are not similar. Components come from min-label
-- propagation in a recursive CTE: each node starts labelled with its own id, labels flow along
-- edges, and a node's component label is the smallest id it reaches. The survivor of a group is
-- its smallest instruction_id (the same rule as gpu_ops.dedup.find_duplicate_groups).
-- dedup_reason is 'exact' when the dropped row has the survivor's normalized_hash, else
-- 'near_duplicate'. The propagation lists every (node, reachable node) of a group, so its cost
-- grows with the square of the largest group's size (fine for groups of hundreds).
with recursive duplicate_pairs as (
    select instruction_id_a, instruction_id_b
    from {{ ref('dedup_candidate_pairs') }}
    where is_duplicate
),

edges as (
    select instruction_id_a as source_id, instruction_id_b as target_id from duplicate_pairs
    union all
    select instruction_id_b as source_id, instruction_id_a as target_id from duplicate_pairs
),

reachable (instruction_id, label) as (
    select distinct source_id, source_id from edges
    union
    select edges.target_id, reachable.label
    from reachable
    inner join edges on reachable.instruction_id = edges.source_id
),

components as (
    select
        instruction_id,
        min(label) as survivor_id
    from reachable
    group by instruction_id
),

sized as (
    select
        instruction_id,
        survivor_id,
        count(*) over (partition by survivor_id) as group_size
    from components
),

clean as (
    select instruction_id, normalized_hash from {{ ref('instructions_clean') }}
),

dropped as (
    select
        sized.instruction_id,
        sized.survivor_id,
        sized.group_size,
        case
            when dropped_row.normalized_hash = survivor_row.normalized_hash then 'exact'
            else 'near_duplicate'
        end as dedup_reason
    from sized
    inner join clean as dropped_row on sized.instruction_id = dropped_row.instruction_id
    inner join clean as survivor_row on sized.survivor_id = survivor_row.instruction_id
    where sized.instruction_id <> sized.survivor_id
)

select * from dropped
order by instruction_id

-- Every dropped duplicate mapped to its survivor. Duplicate edges are dedup_candidate_pairs where
-- is_duplicate (exact and minhash alike). The pool grows by generations (the run in which each
-- miner joined, int_instruction_generations) and an earlier generation's outcome never changes:
--   * an instruction with an edge to any instruction of an earlier generation is dropped;
--   * the other instructions of one generation form groups, the connected components of the
--     edges inside that generation (a chain a~b~c is one group), each keeping its smallest id.
-- A row dropped for an earlier neighbour maps to the first survivor, in (generation, id) order,
-- of its component in the whole graph. With one generation this is the plain rule: components,
-- smallest id. Same definition as gpu_ops.curation.dedup.find_duplicate_groups (priority = generation).
-- Components come from min-label propagation in a recursive CTE: each node starts labelled with
-- its own id, labels flow along edges, a node's label is the smallest id it reaches. That lists
-- every (node, reachable node) of a group, so its cost grows with the square of the largest
-- group's size (fine for groups of hundreds). dedup_reason is 'exact' when the dropped row has
-- the survivor's normalized_hash, else 'near_duplicate'.
with recursive generations as (
    select * from {{ ref('int_instruction_generations') }}
),

duplicate_pairs as (
    select instruction_id_a, instruction_id_b
    from {{ ref('dedup_candidate_pairs') }}
    where is_duplicate
),

edges as (
    select
        pairs.source_id,
        pairs.target_id,
        source_row.generation as source_generation,
        target_row.generation as target_generation
    from (
        select instruction_id_a as source_id, instruction_id_b as target_id from duplicate_pairs
        union all
        select instruction_id_b as source_id, instruction_id_a as target_id from duplicate_pairs
    ) as pairs
    inner join generations as source_row on pairs.source_id = source_row.instruction_id
    inner join generations as target_row on pairs.target_id = target_row.instruction_id
),

dropped_for_earlier as (
    select distinct source_id as instruction_id
    from edges
    where target_generation < source_generation
),

edges_inside_generation as (
    select source_id, target_id
    from edges
    where source_generation = target_generation
        and source_id not in (select instruction_id from dropped_for_earlier)
        and target_id not in (select instruction_id from dropped_for_earlier)
),

reachable_inside (instruction_id, label) as (
    select distinct source_id, source_id from edges_inside_generation
    union
    select edges_inside_generation.target_id, reachable_inside.label
    from reachable_inside
    inner join edges_inside_generation
        on reachable_inside.instruction_id = edges_inside_generation.source_id
),

dropped_inside_generation as (
    select instruction_id, min(label) as survivor_id
    from reachable_inside
    group by instruction_id
    having min(label) <> instruction_id
),

reachable_whole (instruction_id, label) as (
    select distinct source_id, source_id from edges
    union
    select edges.target_id, reachable_whole.label
    from reachable_whole
    inner join edges on reachable_whole.instruction_id = edges.source_id
),

whole_components as (
    select instruction_id, min(label) as component_id
    from reachable_whole
    group by instruction_id
),

first_survivor_of_component as (
    select
        whole_components.component_id,
        arg_min(whole_components.instruction_id, generations.survivor_order) as survivor_id
    from whole_components
    inner join generations on whole_components.instruction_id = generations.instruction_id
    where whole_components.instruction_id not in (select instruction_id from dropped_for_earlier)
        and whole_components.instruction_id not in (
            select instruction_id from dropped_inside_generation
        )
    group by whole_components.component_id
),

dropped_for_earlier_mapped as (
    select dropped_for_earlier.instruction_id, first_survivor_of_component.survivor_id
    from dropped_for_earlier
    inner join whole_components on dropped_for_earlier.instruction_id = whole_components.instruction_id
    inner join first_survivor_of_component
        on whole_components.component_id = first_survivor_of_component.component_id
),

all_dropped as (
    select instruction_id, survivor_id from dropped_inside_generation
    union all
    select instruction_id, survivor_id from dropped_for_earlier_mapped
),

sized as (
    select
        instruction_id,
        survivor_id,
        count(*) over (partition by survivor_id) + 1 as group_size
    from all_dropped
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
    inner join generations as dropped_row on sized.instruction_id = dropped_row.instruction_id
    inner join generations as survivor_row on sized.survivor_id = survivor_row.instruction_id
)

select * from dropped
order by instruction_id

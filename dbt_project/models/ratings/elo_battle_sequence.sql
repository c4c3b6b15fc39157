-- The votes both rating methods read, with the documented, fixed battle order of online Elo:
-- instruction selection order, then pair, judge and presentation order (`battle_order`).
-- Only decided votes and ties with a positive weight count; each keeps its instruction (the
-- cluster bootstrap's unit) and its weight.
select
    row_number() over (
        order by
            instructions.selection_rank,
            votes.model_a,
            votes.model_b,
            votes.judge,
            votes.presentation_order
    ) as battle_order,
    votes.instruction_id,
    votes.model_a,
    votes.model_b,
    votes.winner,
    votes.weight
from {{ ref('battle_votes') }} as votes
inner join {{ ref('instructions_for_battle') }} as instructions
    on votes.instruction_id = instructions.instruction_id
where votes.winner in ('model_a', 'model_b', 'tie') and votes.weight > 0
order by battle_order

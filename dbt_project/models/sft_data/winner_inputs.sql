-- What winner selection reads: each battle of two enabled experts with its local score
-- x_i(A>B) and weighted votes (a battle of a disabled expert is left out, its data is kept).
select
    battles.instruction_id,
    battles.model_a,
    battles.model_b,
    battles.local_score_a,
    battles.votes_a,
    battles.votes_b
from {{ ref('battles') }} as battles
inner join {{ ref('experts') }} as expert_a
    on battles.model_a = expert_a.expert
inner join {{ ref('experts') }} as expert_b
    on battles.model_b = expert_b.expert

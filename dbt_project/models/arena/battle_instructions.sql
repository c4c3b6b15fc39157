-- The instructions the arena battles on, in selection order: what each competitor answers,
-- what the judges and the execution judge read, and the text the SFT export quotes. The
-- Python stages read this model instead of querying instructions_for_battle themselves.
select
    instruction_id,
    instruction,
    miner,
    selection_rank
from {{ ref('instructions_for_battle') }}
order by selection_rank

-- title: Stage token costs
-- description: Tokens spent per LLM stage in pipeline order (mining, scoring, responding,
--   judging), with a per-stage total row (expert = '(all)').
-- columns: stage, expert, n_calls, prompt_tokens, completion_tokens, total_tokens
with per_expert as (
    select stage, expert, n_calls, prompt_tokens, completion_tokens, total_tokens
    from stage_token_costs
),

per_stage as (
    select
        stage,
        '(all)' as expert,
        sum(n_calls) as n_calls,
        sum(prompt_tokens) as prompt_tokens,
        sum(completion_tokens) as completion_tokens,
        sum(total_tokens) as total_tokens
    from per_expert
    group by stage
),

combined as (
    select * from per_expert
    union all
    select * from per_stage
)

select
    stage,
    expert,
    cast(n_calls as bigint) as n_calls,
    cast(prompt_tokens as bigint) as prompt_tokens,
    cast(completion_tokens as bigint) as completion_tokens,
    cast(total_tokens as bigint) as total_tokens
from combined
order by
    case stage when 'mining' then 1 when 'scoring' then 2 when 'responding' then 3 else 4 end,
    expert = '(all)',
    expert

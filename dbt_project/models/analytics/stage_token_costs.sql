-- Tokens spent per LLM stage and expert: mining (miner), scoring (scorer), responding
-- (responder) and judging (judge). Logprob-mode scores and verdicts read a prompt and generate
-- nothing (completion_tokens null). All experts, enabled or not: tokens were spent either way.
with mining as (
    select 'mining' as stage, miner as expert, prompt_tokens, completion_tokens
    from {{ ref('stg_instructions_mined') }}
),

scoring as (
    select 'scoring' as stage, scorer as expert, prompt_tokens, completion_tokens
    from {{ ref('stg_instruction_scores') }}
),

responding as (
    select 'responding' as stage, responder as expert, prompt_tokens, completion_tokens
    from {{ ref('stg_responses') }}
),

judging as (
    select 'judging' as stage, judge as expert, prompt_tokens, completion_tokens
    from {{ ref('stg_judgments') }}
),

calls as (
    select * from mining
    union all
    select * from scoring
    union all
    select * from responding
    union all
    select * from judging
)

select
    stage,
    expert,
    count(*) as n_calls,
    cast(sum(prompt_tokens) as bigint) as prompt_tokens,
    cast(sum(completion_tokens) as bigint) as completion_tokens,
    cast(coalesce(sum(prompt_tokens), 0) + coalesce(sum(completion_tokens), 0) as bigint) as total_tokens
from calls
group by stage, expert
order by
    case stage when 'mining' then 1 when 'scoring' then 2 when 'responding' then 3 else 4 end,
    expert

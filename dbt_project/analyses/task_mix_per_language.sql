-- title: Task mix per language
-- description: Kept instructions per programming language and task type. The task type is a
--   keyword rule on the lower-cased instruction, first match wins:
--     debugging    fix, bug, debug, error, exception, crash, segfault, segmentation fault,
--                  traceback, "not working", "doesn't work", fails
--     explanation  explain, "what is", "what are", "what does", why, "how does",
--                  "difference between", describe
--     generation   write, implement, create, build, generate, develop, design, code, function,
--                  program, script, query
--     other        anything else
--   (Paper: generation ~51%, explanation ~22%, debugging ~12%.)
-- columns: language, task_type, n_instructions, share_of_language
with typed as (
    select
        language,
        case
            when regexp_matches(lower(instruction),
                '\b(fix|bug|bugs|debug|error|errors|exception|crash|crashes|segfault|segmentation fault|traceback|not working|doesn''t work|fails)\b')
                then 'debugging'
            when regexp_matches(lower(instruction),
                '\b(explain|what is|what are|what does|why|how does|difference between|describe)\b')
                then 'explanation'
            when regexp_matches(lower(instruction),
                '\b(write|implement|create|build|generate|develop|design|code|function|program|script|query)\b')
                then 'generation'
            else 'other'
        end as task_type
    from instructions_kept
)

select
    language,
    task_type,
    count(*) as n_instructions,
    round(count(*) / sum(count(*)) over (partition by language), 3) as share_of_language
from typed
group by language, task_type
order by language, n_instructions desc, task_type

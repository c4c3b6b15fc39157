-- Quality flags of every response, counted per responder: empty, enormous, truncated, NUL
-- bytes, undecodable bytes (U+FFFD), control characters, text addressed to the judge, verdict
-- tokens, and verdict tokens inside fenced code blocks. The flags have one implementation,
-- gpu_ops/curation/output_quality.py: the responses stage stores them with each response
-- (flag_<name> columns of the lake table) and this mart only counts them.
with responses as (
    select * from {{ ref('stg_responses') }}
),

per_expert as (
    select
        responder as expert,
        count(*) as n_responses,
        count(*) filter (where flag_empty) as n_empty,
        count(*) filter (where flag_enormous) as n_enormous,
        count(*) filter (where flag_truncated) as n_truncated,
        count(*) filter (where flag_nul_bytes) as n_nul_bytes,
        count(*) filter (where flag_replacement_chars) as n_replacement_chars,
        count(*) filter (where flag_control_chars) as n_control_chars,
        count(*) filter (where flag_injection_phrase) as n_injection_phrase,
        count(*) filter (where flag_verdict_token) as n_verdict_token,
        count(*) filter (where flag_verdict_in_code) as n_verdict_in_code,
        count(*) filter (where flag_judge_injection) as n_judge_injection,
        count(*) filter (
            where flag_empty or flag_enormous or flag_truncated or flag_nul_bytes
            or flag_replacement_chars or flag_control_chars or flag_injection_phrase
            or flag_verdict_token
        ) as n_flagged
    from responses
    group by responder
)

select * from per_expert
order by expert

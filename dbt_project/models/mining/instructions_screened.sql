-- Every mined row with its stripped instruction text and why it was dropped (null = kept).
-- The first matching reason wins, in this order:
--   empty               nothing left after stripping whitespace
--   truncated           generation hit max_new_tokens (finish_reason = 'length')
--   too_short           fewer than var('min_instruction_chars') characters
--   too_long            more than var('max_instruction_chars') characters
--   not_an_instruction  one of the heuristics below
--   reserved            a world of mining.reserved_worlds keeps it out of the arena (its
--                       reserved_reason, e.g. a task the judges were trained on; the mining stage
--                       asks the world, since SQL cannot)
-- not_an_instruction heuristics (case-insensitive):
--   role_marker   chat-template or role markers leaked into the text (<|im_start|>, [INST],
--                 <|eot_id|>, <|start_header_id|>, <|user|>, <|assistant|>, <start_of_turn>,
--                 or a line starting "assistant:" / "user:" / "system:" / "### Response")
--   answer_start  starts like an answer: "sure", "certainly", "of course", "absolutely",
--                 "here is", "here's", "here are", "i'd be happy", "great question"
--   code_dump     starts with a code fence or a code keyword (def, class, import, from .. import,
--                 #include, function, public, package, using) and has no question mark
-- Rows of disabled miners stay: mining data is kept whoever mined it.
with mined as (
    select * from {{ ref('stg_instructions_mined') }}
),

stripped as (
    select
        *,
        regexp_replace(coalesce(raw_text, ''), '^\s+|\s+$', '', 'g') as instruction
    from mined
),

flagged as (
    select
        *,
        length(instruction) as instruction_chars,
        regexp_matches(
            instruction,
            '(?i)(<\|im_start\|>|<\|im_end\|>|\[/?INST\]|<\|eot_id\|>|<\|start_header_id\|>|<\|user\|>|<\|assistant\|>|<start_of_turn>|(^|\n)\s*(assistant|user|system)\s*:|(^|\n)#+\s*response\b)'
        ) as has_role_marker,
        regexp_matches(
            instruction,
            '(?i)^(sure\b|certainly\b|of course\b|absolutely\b|here is\b|here''s\b|here are\b|i''d be happy\b|great question\b)'
        ) as starts_like_answer,
        regexp_matches(
            instruction,
            '(?i)^(```|def\s|class\s|import\s|from\s+\S+\s+import\s|#include\b|function\s|public\s|package\s|using\s)'
        ) and not contains(instruction, '?') as is_code_dump
    from stripped
),

reasons as (
    select
        mined_id,
        miner,
        language,
        setting_id,
        model_id,
        finish_reason,
        prompt_tokens,
        completion_tokens,
        instruction,
        instruction_chars,
        reserved_reason,
        case
            when instruction_chars = 0 then 'empty'
            when finish_reason = 'length' then 'truncated'
            when instruction_chars < {{ var('min_instruction_chars') }} then 'too_short'
            when instruction_chars > {{ var('max_instruction_chars') }} then 'too_long'
            when has_role_marker or starts_like_answer or is_code_dump then 'not_an_instruction'
            when reserved_reason is not null then 'reserved'
        end as drop_reason
    from flagged
)

select * from reasons
order by mined_id

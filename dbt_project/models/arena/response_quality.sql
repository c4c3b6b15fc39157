-- Quality flags of every response, counted per responder: empty, enormous, truncated, NUL
-- bytes, undecodable bytes (U+FFFD), control characters, text addressed to the judge, verdict
-- tokens, and verdict tokens inside fenced code blocks. The definitions mirror
-- gpu_ops/curation/output_quality.py (same regexes; keep the two in step): tests/dbt/
-- test_response_quality.py checks that both count the same on hostile rows. Known differences:
-- - lone surrogates, which Python counts as undecodable, cannot reach the warehouse at all (they
--   have no UTF-8 form; gpu_ops.curation.output_quality.sanitize_for_storage turns them into U+FFFD);
-- - RE2's case folding also matches U+017F for s and U+212A (Kelvin) for k, so the injection
--   flag can fire here on a text that Python's ASCII case folding does not flag.
-- verdict_in_code walks the lines like gpu_ops.parsing.strip_fenced_code: a line of 3+ backticks
-- or tildes (indented 0-3 spaces) opens a block, a line of at least as many of the same
-- character closes it, and an unclosed block runs to the end.
with responses as (
    select responder, response, finish_reason
    from {{ ref('stg_responses') }}
),

flagged as (
    select
        responder,
        response,
        response is null or regexp_full_match(response, '[ \t\n\r\f\v]*') as is_empty,
        coalesce(length(response) > {{ var('max_response_chars', 32000) }}, false) as is_enormous,
        coalesce(finish_reason = 'length', false) as is_truncated,
        coalesce(contains(response, chr(0)), false) as has_nul_bytes,
        coalesce(contains(response, chr(65533)), false) as has_replacement_chars,
        coalesce(regexp_matches(response, '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]'), false) as has_control_chars,
        coalesce(
            regexp_matches(response, '(ignore|disregard|forget|override)[ \t\r\n]+((all|any)[ \t\r\n]+)?((the|your|my|these|those)[ \t\r\n]+)?(previous|prior|above|earlier|preceding|system|original)[ \t\r\n]+(instructions?|prompts?|rules|directions|messages?|guidelines)', 'i')
            or regexp_matches(response, '(the|dear|attention|hello|hi|to[ \t\r\n]+the|for[ \t\r\n]+the)[ \t\r\n,:]+(((ai|llm|model)[ \t\r\n]+)?judge|(ai|llm)[ \t\r\n]+(evaluator|grader))([ \t\r\n,:]+(should|must|shall|will|needs[ \t\r\n]+to|has[ \t\r\n]+to|is[ \t\r\n]+to)|[ \t]*[,:!])', 'i')
            or regexp_matches(response, '(answer|output|respond|reply|say|print|write|give|choose|pick|select|declare|vote)[ \t]+((with|only|the|your|a|final|for)[ \t]+)*(verdict|\[\[[ \t]*(a|b|tie)[ \t]*\]\]|(assistant|response)[ \t]+(a|b)\b)', 'i')
            or regexp_matches(response, '<<<[ \t]*(start|end)[ \t]+of[ \t]', 'i')
            or regexp_matches(response, '<\|(im_start|im_end|system|user|assistant|end|eot_id|start_header_id)\|>|\[/?inst\]', 'i'),
            false
        ) as has_injection_phrase,
        coalesce(regexp_matches(response, '\[\[[ \t]*(a|b|tie)[ \t]*\]\]', 'i'), false) as has_verdict_token
    from responses
),

with_code_flag as (
    select
        *,
        case
            when has_verdict_token then list_reduce(
                string_split(response, chr(10)),
                lambda state, line: case
                    -- outside a block: an opening fence starts one (its line is code too)
                    when state.fence is null then case
                        when regexp_extract(line, '^ {0,3}(`{3,}|~{3,})', 0) = ''
                            then state
                        -- a backtick fence whose info string holds a backtick is not a fence
                        when starts_with(ltrim(line, ' '), '`')
                            and contains(
                                substr(line, length(regexp_extract(line, '^ {0,3}(`{3,}|~{3,})', 0)) + 1),
                                '`'
                            )
                            then state
                        else {
                            'fence': regexp_extract(line, '^ {0,3}(`{3,}|~{3,})', 1),
                            'found': state.found or regexp_matches(line, '\[\[[ \t]*(a|b|tie)[ \t]*\]\]', 'i')
                        }
                    end
                    -- inside a block: a closing fence ends it, any other line is code
                    when length(rtrim(line, ' ' || chr(9) || chr(13)))
                        - length(ltrim(rtrim(line, ' ' || chr(9) || chr(13)), ' ')) <= 3
                        and ltrim(rtrim(line, ' ' || chr(9) || chr(13)), ' ') <> ''
                        and replace(ltrim(rtrim(line, ' ' || chr(9) || chr(13)), ' '), left(state.fence, 1), '') = ''
                        and length(ltrim(rtrim(line, ' ' || chr(9) || chr(13)), ' ')) >= length(state.fence)
                        then {'fence': null, 'found': state.found}
                    else {
                        'fence': state.fence,
                        'found': state.found or regexp_matches(line, '\[\[[ \t]*(a|b|tie)[ \t]*\]\]', 'i')
                    }
                end,
                {'fence': cast(null as varchar), 'found': false}
            ).found
            else false
        end as has_verdict_in_code
    from flagged
),

per_expert as (
    select
        responder as expert,
        count(*) as n_responses,
        count(*) filter (where is_empty) as n_empty,
        count(*) filter (where is_enormous) as n_enormous,
        count(*) filter (where is_truncated) as n_truncated,
        count(*) filter (where has_nul_bytes) as n_nul_bytes,
        count(*) filter (where has_replacement_chars) as n_replacement_chars,
        count(*) filter (where has_control_chars) as n_control_chars,
        count(*) filter (where has_injection_phrase) as n_injection_phrase,
        count(*) filter (where has_verdict_token) as n_verdict_token,
        count(*) filter (where has_verdict_in_code) as n_verdict_in_code,
        count(*) filter (where has_injection_phrase or has_verdict_token) as n_judge_injection,
        count(*) filter (
            where is_empty or is_enormous or is_truncated or has_nul_bytes or has_replacement_chars
            or has_control_chars or has_injection_phrase or has_verdict_token
        ) as n_flagged
    from with_code_flag
    group by responder
)

select * from per_expert
order by expert

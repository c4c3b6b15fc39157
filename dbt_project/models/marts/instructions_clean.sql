-- The kept rows of instructions_cleaned, keyed by instruction_id (= mined_id), with the hash
-- of the normalized text used for exact deduplication. Normalization: lower case, every run of
-- whitespace collapsed to one space, trimmed; the hash is md5 of that text (hex).
with cleaned as (
    select * from {{ ref('instructions_cleaned') }}
),

kept as (
    select
        mined_id as instruction_id,
        instruction,
        miner,
        language,
        instruction_chars,
        md5(trim(regexp_replace(lower(instruction), '\s+', ' ', 'g'))) as normalized_hash
    from cleaned
    where drop_reason is null
)

select * from kept
order by instruction_id

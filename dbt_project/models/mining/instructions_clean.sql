-- The kept rows of instructions_screened, keyed by instruction_id (= mined_id), with the hash
-- of the normalized text used for exact deduplication. Normalization: lower case, every run of
-- whitespace collapsed to one space, trimmed; the hash is md5 of that text (hex). This is
-- gpu_ops.curation.dedup's normalization except NFKC (DuckDB has no NFKC): texts that differ only in
-- Unicode compatibility characters (full-width letters, ligatures) or non-ASCII spaces are
-- exact duplicates there but not here.
with cleaned as (
    select * from {{ ref('instructions_screened') }}
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

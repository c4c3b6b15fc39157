-- One row per clean instruction and LSH band: the band hash with its 0-based band index.
-- Band hashes are compared only within the same band (the usual LSH banding); MinHash rows of
-- instructions no longer in instructions_clean are ignored.
with minhash as (
    select * from {{ ref('stg_instruction_minhash') }}
),

clean as (
    select instruction_id from {{ ref('instructions_clean') }}
),

bands as (
    select
        minhash.instruction_id,
        unnest(range(len(minhash.band_hashes))) as band_index,
        unnest(minhash.band_hashes) as band_hash
    from minhash
    inner join clean on minhash.instruction_id = clean.instruction_id
)

select * from bands

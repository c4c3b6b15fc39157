-- Pairs of clean instructions that may be duplicates (instruction_id_a < instruction_id_b):
--   minhash  the pair shares at least one LSH band hash (same band index); it is a duplicate
--            when the estimated Jaccard similarity, the share of equal MinHash signature slots,
--            is >= var('dedup_threshold')
--   exact    both have the same normalized_hash; each row is paired with the first row of its
--            hash group in survivor order (earliest generation, then smallest id: enough for
--            connectivity, avoids n^2 pairs, and links a later copy to the earlier one); always
--            a duplicate
-- A pair that is both is reported once, with reason 'exact'.
with clean as (
    select instruction_id, normalized_hash from {{ ref('instructions_clean') }}
),

signatures as (
    select minhash.instruction_id, minhash.signature
    from {{ ref('stg_instruction_minhash') }} as minhash
    inner join clean on minhash.instruction_id = clean.instruction_id
),

bands as (
    select * from {{ ref('int_dedup_minhash_bands') }}
),

band_pairs as (
    select
        bands_a.instruction_id as instruction_id_a,
        bands_b.instruction_id as instruction_id_b,
        count(*) as shared_bands
    from bands as bands_a
    inner join bands as bands_b
        on bands_a.band_index = bands_b.band_index
        and bands_a.band_hash = bands_b.band_hash
        and bands_a.instruction_id < bands_b.instruction_id
    group by all
),

minhash_pairs as (
    select
        band_pairs.instruction_id_a,
        band_pairs.instruction_id_b,
        band_pairs.shared_bands,
        len(list_filter(
            list_zip(signatures_a.signature, signatures_b.signature),
            lambda slot: slot[1] = slot[2]
        )) / len(signatures_a.signature) as estimated_jaccard
    from band_pairs
    inner join signatures as signatures_a on band_pairs.instruction_id_a = signatures_a.instruction_id
    inner join signatures as signatures_b on band_pairs.instruction_id_b = signatures_b.instruction_id
),

hash_groups as (
    select
        instruction_id,
        first_value(instruction_id) over (
            partition by normalized_hash order by survivor_order
        ) as first_id
    from {{ ref('int_instruction_generations') }}
),

exact_pairs as (
    select
        least(first_id, instruction_id) as instruction_id_a,
        greatest(first_id, instruction_id) as instruction_id_b
    from hash_groups
    where instruction_id <> first_id
),

pairs as (
    select
        coalesce(exact_pairs.instruction_id_a, minhash_pairs.instruction_id_a) as instruction_id_a,
        coalesce(exact_pairs.instruction_id_b, minhash_pairs.instruction_id_b) as instruction_id_b,
        case when exact_pairs.instruction_id_a is not null then 'exact' else 'minhash' end as reason,
        coalesce(minhash_pairs.shared_bands, 0) as shared_bands,
        minhash_pairs.estimated_jaccard,
        exact_pairs.instruction_id_a is not null
            or minhash_pairs.estimated_jaccard >= {{ var('dedup_threshold') }} as is_duplicate
    from exact_pairs
    full outer join minhash_pairs
        on exact_pairs.instruction_id_a = minhash_pairs.instruction_id_a
        and exact_pairs.instruction_id_b = minhash_pairs.instruction_id_b
)

select * from pairs
order by instruction_id_a, instruction_id_b

{{ config(materialized='view') }}

-- Typed view over the lake table `instruction_minhash` (rename and cast only).
with source as (
    {{ lake_source('instruction_minhash') }}
),

renamed as (
    select
        cast(instruction_id as varchar) as instruction_id,
        cast(signature as ubigint[]) as signature,
        cast(band_hashes as ubigint[]) as band_hashes
    from source
)

select * from renamed

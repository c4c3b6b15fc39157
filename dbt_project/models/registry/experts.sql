-- Enabled experts: the competitors, judges and raters of this run. Disabled experts keep their
-- lake data (mined instructions stay in the pool) but leave battles, ratings and winners.
with registry as (
    select * from {{ ref('stg_expert_registry') }}
),

enabled as (
    select
        expert,
        model,
        backend,
        family,
        roles,
        config_hash
    from registry
    where enabled
)

select * from enabled
order by expert

-- The paper's Fig. 3: the share of SFT instructions per ROUGE-L bin (width 0.1) against each
-- benchmark, from each instruction's closest benchmark prompt. Every bin 0.0-0.1 .. 0.9-1.0 is
-- listed, empty ones with 0 (a score of exactly 1.0 falls in the last bin).
{{ config(materialized='table') }}

with overlap as (
    select * from {{ ref('evaluation_benchmark_overlap') }}
),

bins as (
    select range / 10.0 as bin_lower from range(0, 10)
),

benchmarks as (
    select benchmark, count(*) as total from overlap group by benchmark
),

binned as (
    select
        benchmark,
        least(floor(rouge_l * 10), 9) / 10.0 as bin_lower,
        count(*) as instructions
    from overlap
    group by benchmark, least(floor(rouge_l * 10), 9)
)

select
    benchmarks.benchmark,
    bins.bin_lower,
    bins.bin_lower + 0.1 as bin_upper,
    coalesce(binned.instructions, 0) as instructions,
    coalesce(binned.instructions, 0) / benchmarks.total as share
from benchmarks
cross join bins
left join binned
    on binned.benchmark = benchmarks.benchmark
    and binned.bin_lower = bins.bin_lower
order by benchmarks.benchmark, bins.bin_lower

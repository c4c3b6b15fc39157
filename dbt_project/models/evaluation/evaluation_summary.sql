-- pass@1 per evaluated model and benchmark: per task the share of passing samples (the
-- unbiased pass@1 estimate c/n), averaged over tasks.
with results as (
    select * from {{ ref('stg_evaluation_results') }}
),

per_task as (
    select
        model_label,
        benchmark,
        task_id,
        count(*) as n_samples,
        avg(case when passed then 1.0 else 0.0 end) as task_pass_rate
    from results
    group by model_label, benchmark, task_id
)

select
    model_label,
    benchmark,
    count(*) as n_tasks,
    cast(sum(n_samples) as bigint) as n_samples,
    avg(task_pass_rate) as pass_at_1
from per_task
group by model_label, benchmark
order by model_label, benchmark

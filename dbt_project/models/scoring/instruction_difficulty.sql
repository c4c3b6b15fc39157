-- Difficulty/quality of each deduplicated instruction, from all scorers (disabled experts
-- included: scores are curation data, like mined instructions).
-- A scorer's value is expected_score when present (logprob mode), else its parsed integer
-- score; unparsed replies count in n_unparsed only. mean_score is the mean of those values.
-- bucket is taken on round(mean_score) (half away from zero): excellent 9-10, good 6-8,
-- average 3-5, poor 1-2; null without any parsed score.
-- kept compares the unrounded mean: mean_score >= var('min_score'). So a mean of 5.7 is
-- bucketed 'good' (rounds to 6) but not kept with the default 6.
-- bucket_agreement is the share of scorer values whose own rounded bucket equals the
-- instruction's bucket (1.0 = all scorers agree on the bucket).
with instructions as (
    select instruction_id from {{ ref('instructions_dedup') }}
),

scores as (
    select
        instruction_id,
        scorer,
        parsed,
        case when parsed then coalesce(expected_score, cast(score as double)) end as score_value
    from {{ ref('stg_instruction_scores') }}
),

per_instruction as (
    select
        instructions.instruction_id,
        avg(scores.score_value) as mean_score,
        count(scores.score_value) as n_scores,
        count(scores.scorer) filter (where not scores.parsed or scores.score_value is null) as n_unparsed,
        min(scores.score_value) as lowest_score,
        max(scores.score_value) as highest_score,
        max(scores.score_value) - min(scores.score_value) as score_spread,
        stddev_pop(scores.score_value) as score_stddev
    from instructions
    left join scores on instructions.instruction_id = scores.instruction_id
    group by instructions.instruction_id
),

bucketed as (
    select
        *,
        {{ difficulty_bucket('mean_score') }} as bucket,
        coalesce(mean_score >= {{ var('min_score') }}, false) as kept
    from per_instruction
),

agreement as (
    select
        bucketed.instruction_id,
        avg(case when {{ difficulty_bucket('scores.score_value') }} = bucketed.bucket then 1.0 else 0.0 end)
            as bucket_agreement
    from bucketed
    inner join scores on bucketed.instruction_id = scores.instruction_id
    where scores.score_value is not null
    group by bucketed.instruction_id
)

select
    bucketed.instruction_id,
    bucketed.mean_score,
    bucketed.n_scores,
    bucketed.n_unparsed,
    bucketed.lowest_score,
    bucketed.highest_score,
    bucketed.score_spread,
    bucketed.score_stddev,
    agreement.bucket_agreement,
    bucketed.bucket,
    bucketed.kept
from bucketed
left join agreement on bucketed.instruction_id = agreement.instruction_id
order by bucketed.instruction_id

{#-
    battle_votes' post-hook: delete the votes of experts that are no longer enabled, and the
    execution votes when the execution weight is 0. It first asks whether there is any such vote
    (a cheap distinct over dictionary-encoded columns), so an ordinary incremental run of a large
    table does not pay for a scan-and-delete that removes nothing.
-#}
{% macro delete_votes_of_left_experts() -%}
    {%- if not execute -%}
        {{- return('select 1') -}}
    {%- endif -%}
    {%- set experts = ref('experts') -%}
    {%- set weight = var('execution_judge_weight') -%}
    {%- set found = run_query(
        "select count(*) from (select model_a as e from " ~ this ~ " union select model_b from "
        ~ this ~ " union select judge from " ~ this ~ " where judge_kind = 'llm')"
        ~ " where e not in (select expert from " ~ experts ~ ")"
    ).columns[0].values()[0] -%}
    {%- set execution_left = weight <= 0 and run_query(
        "select count(*) from " ~ this ~ " where judge_kind = 'execution'"
    ).columns[0].values()[0] > 0 -%}
    {%- if found > 0 or execution_left -%}
        delete from {{ this }} where model_a not in (select expert from {{ experts }})
            or model_b not in (select expert from {{ experts }})
            or (judge_kind = 'llm' and judge not in (select expert from {{ experts }}))
            or (judge_kind = 'execution' and {{ weight }} <= 0)
    {%- else -%}
        select 1 -- no vote of a left expert, no execution vote to drop
    {%- endif -%}
{%- endmacro %}

{#- The paper's difficulty bucket of a 1..10 score, taken on the score rounded half away
    from zero: excellent 9-10, good 6-8, average 3-5, poor 1-2 (null stays null). -#}
{% macro difficulty_bucket(score) -%}
    case
        when round({{ score }}) >= 9 then 'excellent'
        when round({{ score }}) >= 6 then 'good'
        when round({{ score }}) >= 3 then 'average'
        when round({{ score }}) >= 1 then 'poor'
    end
{%- endmacro %}

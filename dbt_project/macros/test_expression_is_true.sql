{#- Generic data test: every row satisfies the SQL boolean `expression`. -#}
{% test expression_is_true(model, expression, column_name=none) %}
    select *
    from {{ model }}
    where not ({{ expression }})
{% endtest %}

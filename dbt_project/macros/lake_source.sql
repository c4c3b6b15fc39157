{#-
    Select every column of a lake table, or an empty relation of the same columns and types
    (taken from `data_type` in _lake__sources.yml) while the table has no Parquet file yet.
    Why: stages fill the lake one by one, and DuckDB cannot create a view over a glob that
    matches nothing; with this, `dbt build` works on a partly filled lake.
    The `source()` call always runs, so dbt and Dagster keep the lineage edge.
-#}
{% macro lake_source(table_name) -%}
    {%- set relation = source('lake', table_name) -%}
    {%- if execute and not lake_files_exist(table_name) -%}
        {%- set node = graph.sources['source.' ~ project_name ~ '.lake.' ~ table_name] -%}
        select
        {%- for column in node.columns.values() %}
            cast(null as {{ column.data_type }}) as {{ adapter.quote(column.name) }}{{ "," if not loop.last }}
        {%- endfor %}
        where false
    {%- else -%}
        select * from {{ relation }}
    {%- endif -%}
{%- endmacro %}


{#- Whether $WC_HOME/lake/<table_name>/ holds at least one Parquet file. -#}
{% macro lake_files_exist(table_name) -%}
    {%- set pattern = env_var('WC_HOME', '../.warriorcoder') ~ '/lake/' ~ table_name ~ '/*.parquet' -%}
    {%- set result = run_query("select count(*) from glob('" ~ pattern ~ "')") -%}
    {{- return(result.columns[0].values()[0] > 0) -}}
{%- endmacro %}

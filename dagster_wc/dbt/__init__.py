"""dbt as Dagster assets: the `@dbt_assets` definition, dbt run in-process, build metadata."""

"""The foundation every layer above gpu_ops stands on: the config (one module per stage's
section), the home and its lake (`storage`), and read-only reads of the dbt warehouse
(`warehouse`). It imports only gpu_ops (lake schemas, errors) and libraries."""

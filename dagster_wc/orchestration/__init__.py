"""The machinery that walks the pipeline: the plan, step freshness, the walk loop shared by
the CLI runner and the sensor, the local instance and the expert partitions."""

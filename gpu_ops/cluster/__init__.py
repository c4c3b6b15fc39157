"""Fan-out across machines: `map_tasks` runs a function over items as Ray tasks when a Ray
address is in force (`compute.ray_address`, env `WC_RAY_ADDRESS`), else in this process.

The driver (the Dagster step) keeps every write: tasks return results and never write shared
files. Which node ran what is recorded per step for `$WC_HOME/reports/cluster.json`.
"""

from gpu_ops.cluster.executor import (
    RAY_ADDRESS_ENV,
    ClusterError,
    cluster_scope,
    map_batches,
    map_chunks,
    map_tasks,
    ray_address,
    shutdown,
)
from gpu_ops.cluster.ledger import LEDGER, cluster_step

__all__ = [
    "LEDGER",
    "RAY_ADDRESS_ENV",
    "ClusterError",
    "cluster_scope",
    "cluster_step",
    "map_batches",
    "map_chunks",
    "map_tasks",
    "ray_address",
    "shutdown",
]

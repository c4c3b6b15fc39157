"""`map_tasks(fn, items)`: Ray tasks across a cluster's nodes when an address is in force, else
the caller's own local path.

Why this shape: the results must not depend on where they ran, so every task is a pure
function of its item and the driver puts the results back in item order. Results are fetched
as they finish (`ray.wait`), so when a node dies mid-step only the tasks that had not returned
run again, on the nodes that remain (Ray retries tasks lost with a node, `max_retries`); a
result that reached the driver is never asked for again. Workers return values and write no
shared file: the driver writes the lake and the caches.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

from gpu_ops.cluster.ledger import LEDGER
from gpu_ops.errors import InputError

RAY_ADDRESS_ENV = "WC_RAY_ADDRESS"
NAMESPACE = "warriorcoder"
MAX_RETRIES = 3  # per task, for system failures (a node or worker lost), not for task errors
CONNECT_TIMEOUT_S = 5.0

T = TypeVar("T")
R = TypeVar("R")

_connected: dict[str, str] = {}
_node_addresses: dict[str, str] = {}  # node id -> the address it registered with
_connect_lock = threading.Lock()


class ClusterError(InputError):
    """The Ray cluster cannot be used (unreachable address, no `ray` package, a task failed)."""


def ray_address(configured: str | None = None) -> str | None:
    """The Ray address in force: env `WC_RAY_ADDRESS`, else the config's, else None (local)."""
    address = (os.environ.get(RAY_ADDRESS_ENV) or configured or "").strip()
    return address or None


@contextmanager
def ray_address_set(address: str | None) -> Iterator[None]:
    """Put `address` in force for this block (the env var wins when it is already set)."""
    previous = os.environ.get(RAY_ADDRESS_ENV)
    if address and not previous:
        os.environ[RAY_ADDRESS_ENV] = address
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(RAY_ADDRESS_ENV, None)


@contextmanager
def cluster_scope(step: str, address: str | None) -> Iterator[None]:
    """One step's fan-out: its Ray address (env `WC_RAY_ADDRESS` wins) and its ledger label."""
    with ray_address_set(address), LEDGER.stepping(step):
        yield


def map_tasks(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    local: Callable[[Sequence[T]], list[R]] | None = None,
    address: str | None = None,
    num_cpus: float = 1,
    step: str | None = None,
    on_result: Callable[[int, R], None] | None = None,
) -> list[R]:
    """`[fn(item) for item in items]`, in order; as Ray tasks when a Ray address is in force.

    Without an address, `local(items)` runs (the caller's existing local fan-out; it reports
    its own results), or the plain loop. `fn` must be a pure function of its item
    (cloudpickled to the workers). `on_result(position, value)` is called in the driver's
    thread as each result arrives, so the caller can commit it at once: a killed driver or
    node then loses only the work still in flight."""
    items = list(items)
    address = ray_address(address)
    if address is None:
        if local is not None:
            return local(items)
        return [_reported(on_result, position, fn(item)) for position, item in enumerate(items)]
    if not items:
        return []
    ray = connect(address)
    LEDGER.address = address
    task = ray.remote(num_cpus=num_cpus, max_retries=MAX_RETRIES, retry_exceptions=False)(
        _timed_call
    )
    fn_ref = ray.put(fn)
    pending = {task.remote(fn_ref, item): position for position, item in enumerate(items)}
    results: list[Any] = [None] * len(items)
    label = step or LEDGER.step
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                position = pending.pop(ref)
                node_id, seconds, value = _get(ray, ref)
                results[position] = value
                LEDGER.record(node_id, _node_address(ray, node_id), seconds, step=label)
                if on_result is not None:
                    on_result(position, value)
    finally:
        for ref in pending:  # an error above: do not leave the rest running for nothing
            ray.cancel(ref, force=True)
    return results


def map_chunks(fn: Callable[[T], R], items: Iterable[T], *, chunks: int | None = None) -> list[R]:
    """`[fn(item) for item in items]` for many small items: on a cluster, `chunks` Ray tasks of
    contiguous items each (default: one per CPU of the cluster; a task per item would cost more
    than the item), else the plain loop. The results are the same either way: each item is
    computed alone, in item order. Without a cluster the items are consumed one at a time (a
    generator of large draws is never held whole)."""
    address = ray_address()
    if address is None:
        return [fn(item) for item in items]
    items = list(items)
    if len(items) < 2:
        return [fn(item) for item in items]
    if chunks is None:
        chunks = int(connect(address).cluster_resources().get("CPU", 1))
    size = -(-len(items) // max(1, min(chunks, len(items))))
    parts = [items[start : start + size] for start in range(0, len(items), size)]
    done = map_tasks(partial(_apply_all, fn), parts)
    return [value for part in done for value in part]


def map_batches(
    fn: Callable[[list[T]], Sequence[R]], items: Iterable[T], *, chunks: int | None = None
) -> list[R]:
    """`fn(items)` for a function that computes many items better together (a vectorized
    batch): on a cluster, `fn` of `chunks` contiguous parts as Ray tasks (default: one per CPU
    of the cluster), else `fn(items)` in this process. `fn` must compute each item alone (its
    result may not depend on which other items share its part), so the results, concatenated
    in item order, are the same either way."""
    items = list(items)
    address = ray_address()
    if address is None or len(items) < 2:
        return list(fn(items)) if items else []
    if chunks is None:
        chunks = int(connect(address).cluster_resources().get("CPU", 1))
    size = -(-len(items) // max(1, min(chunks, len(items))))
    parts = [items[start : start + size] for start in range(0, len(items), size)]
    return [value for part in map_tasks(fn, parts) for value in part]


def _reported(on_result: Callable[[int, R], None] | None, position: int, value: R) -> R:
    if on_result is not None:
        on_result(position, value)
    return value


def _apply_all(fn: Callable[[T], R], part: Sequence[T]) -> list[R]:
    return [fn(item) for item in part]


def _timed_call(fn: Callable[[Any], Any], item: Any) -> tuple[str, float, Any]:
    """Runs on a worker: the result plus which node ran it and for how long."""
    import ray

    started = time.perf_counter()
    value = fn(item)
    return ray.get_runtime_context().get_node_id(), time.perf_counter() - started, value


def _node_address(ray: Any, node_id: str) -> str:
    """The address a node registered with (asked of the cluster once per new node)."""
    if node_id not in _node_addresses:
        _node_addresses.update((n["NodeID"], n.get("NodeManagerAddress", "")) for n in ray.nodes())
    return _node_addresses.get(node_id, "")


def _get(ray: Any, ref: Any) -> tuple[str, float, Any]:
    """One task's result; a task's own error is re-raised as itself (e.g. SandboxUnavailable
    from a node that lacks the sandbox's requirements)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as error:
        if isinstance(error.cause, BaseException):
            raise error.cause from None
        raise ClusterError(f"a Ray task failed: {error}") from None
    except ray.exceptions.RayError as error:
        raise ClusterError(
            f"a Ray task was lost {MAX_RETRIES + 1} times (nodes dying?): {error}"
        ) from None


def connect(address: str) -> Any:
    """`ray` connected to the cluster at `address` (once per process and address)."""
    try:
        import ray
    except ImportError as error:
        raise ClusterError(
            f"a Ray address is set ({address!r}) but the `ray` package is missing: "
            "pip install 'warriorcoder-arena[cluster]'"
        ) from error
    with _connect_lock:
        if _connected.get("address") == address and ray.is_initialized():
            return ray
        if ray.is_initialized():
            ray.shutdown()
        check_reachable(address)
        try:
            ray.init(
                address=address,
                namespace=NAMESPACE,
                log_to_driver=False,
                logging_level="ERROR",
                configure_logging=False,
            )
        except Exception as error:  # ray raises several types for the same case
            raise ClusterError(
                f"cannot join the Ray cluster at {address!r} "
                f"(compute.ray_address / {RAY_ADDRESS_ENV}): {error}"
            ) from None
        _connected["address"] = address
        return ray


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast, naming the address, when nothing listens there (ray.init would wait long)."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(
            f"Ray address {address!r} is not host:port (compute.ray_address / {RAY_ADDRESS_ENV})"
        )
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as error:
        raise ClusterError(
            f"cannot reach the Ray cluster at {address!r} (compute.ray_address / "
            f"{RAY_ADDRESS_ENV}): {error.strerror or error}"
        ) from None


def shutdown() -> None:
    """Leave the cluster (the next `map_tasks` with an address joins again)."""
    with _connect_lock:
        if _connected:
            import ray

            ray.shutdown()
            _connected.clear()


def cluster_nodes() -> list[dict]:
    """The alive nodes of the joined cluster: id, address, CPUs."""
    import ray

    return [
        {
            "node_id": node["NodeID"],
            "address": node.get("NodeManagerAddress", ""),
            "cpus": node.get("Resources", {}).get("CPU", 0),
        }
        for node in ray.nodes()
        if node.get("Alive")
    ]

"""Real servers for the cluster tests: a Postgres (pgserver) and a two-node Ray cluster.

Both start only when a test asks for them, live in their own temp folders, and are stopped by
killing their own process groups (never `ray stop`, which would end every Ray process of the
machine). pgserver runs Postgres as an unprivileged user itself when the tests run as root.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gpu_ops.cluster.local import LocalCluster


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh Postgres server's URL (a unix socket in a temp folder)."""
    pgserver = pytest.importorskip("pgserver", reason="the `cluster` extra is not installed")
    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[LocalCluster]:
    """A two-node Ray cluster (head + worker, one CPU each) for the tests of one module."""
    pytest.importorskip("ray", reason="the `cluster` extra is not installed")
    from gpu_ops.cluster import shutdown

    cluster = LocalCluster().start(nodes=2, num_cpus=1)
    try:
        yield cluster
    finally:
        shutdown()  # this process leaves the cluster before it goes away
        cluster.stop()

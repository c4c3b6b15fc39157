"""Real servers for the cluster tests: a Postgres (pgserver) and a two-node Ray cluster.

Both start only when a test asks for them, live in their own temp folders, and are stopped by
killing their own process groups (never `ray stop`, which would end every Ray process of the
machine). pgserver runs Postgres as an unprivileged user itself when the tests run as root.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpu_ops.cluster.local import LocalCluster


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh Postgres server's URL (a unix socket in its data folder).

    The folder is not under pytest's temp root: as root, pgserver runs Postgres as its own
    user, and pytest resets its root folder to mode 0700 whenever a session starts, which
    would lock that user out mid-run."""
    pgserver = pytest.importorskip("pgserver", reason="the `cluster` extra is not installed")
    folder = Path(tempfile.mkdtemp(prefix="wcpg-"))
    server = pgserver.get_server(folder, cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


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

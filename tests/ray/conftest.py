"""A real local Ray cluster (head + a second node process), shared by the Ray tests of a session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ray_cluster():
    import ray  # noqa: F401  - the dev extra installs it: missing, these tests fail rather than skip
    from .cluster import LocalRayCluster

    cluster = LocalRayCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()
        assert not cluster.pids(), "processes of the test's Ray cluster outlived its teardown"

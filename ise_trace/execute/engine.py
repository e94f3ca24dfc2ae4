"""The connection to the Docker engine, with one clear message when it does not answer."""

from __future__ import annotations

import functools
import shutil

from ..errors import SandboxError


@functools.lru_cache(maxsize=1)
def docker_client():
    import docker
    import docker.errors

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except docker.errors.DockerException as e:
        raise SandboxError(
            f"the Docker engine does not answer ({e}); start it (e.g. 'dockerd &' as root) "
            "or set DOCKER_HOST"
        ) from None
    return client


def docker_cli() -> str:
    """Path of the docker CLI, which drives the workspaces' attached stdin/stdout."""
    path = shutil.which("docker")
    if path is None:
        raise SandboxError("the docker command-line client is not installed: apt-get install -y docker.io")
    return path

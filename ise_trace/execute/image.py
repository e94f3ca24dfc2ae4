"""Building the workspace image, tagged by a content hash of what defines it.

Two tiers, each rebuilt only when its inputs change:
- base (`ise-trace-base:<hash>`): a Debian userland made with debootstrap from the host's
  configured Debian mirror and loaded with `docker import`, for hosts that reach no container
  registry. Hosts that do reach one can use `debian:bookworm-slim` instead (`--from-registry`).
- workspace (`ise-trace-sandbox:<hash>`): `sandbox/Dockerfile` on top of the base: the non-root
  user, the workspace daemon and the template.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..config import SandboxConfig
from ..errors import SandboxError
from .engine import docker_cli, docker_client

REGISTRY_BASE = "debian:bookworm-slim"
DEFINITION_FILES = ("Dockerfile", "packages.txt", "workspace_daemon.py")


def sandbox_dir() -> Path:
    """The folder holding the image definition: the wheel's packaged copy, `sandbox/` of a
    checkout, or ISE_TRACE_SANDBOX_DIR (an edited definition)."""
    from ..resources import resource

    env = os.environ.get("ISE_TRACE_SANDBOX_DIR")
    path = Path(env) if env else resource("sandbox")
    if not (path / "Dockerfile").is_file():
        raise SandboxError(
            f"{path}: the sandbox definition (Dockerfile) is missing; reinstall ise-trace (its wheel "
            "ships it) or set ISE_TRACE_SANDBOX_DIR to a sandbox/ folder"
        )
    return path


def packages(sdir: Path | None = None) -> list[str]:
    lines = (sdir or sandbox_dir()).joinpath("packages.txt").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def _digest(parts: list[bytes]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:12]


def base_image_tag(config: SandboxConfig | None = None) -> str:
    config = config or SandboxConfig()
    text = "\n".join([config.suite, *packages()]).encode()
    return f"{config.base_repo}:{_digest([text])}"


def sandbox_image_tag(config: SandboxConfig | None = None, base: str | None = None) -> str:
    """The workspace image tag: a hash of the definition files, the template and the base."""
    config = config or SandboxConfig()
    sdir = sandbox_dir()
    parts = [(sdir / name).read_bytes() for name in DEFINITION_FILES]
    template = sdir / "template"
    for f in sorted(template.rglob("*")):
        if f.is_file():
            parts.append(str(f.relative_to(template)).encode() + b"\0" + f.read_bytes())
    parts.append((base or base_image_tag(config)).encode())
    return f"{config.image_repo}:{_digest(parts)}"


def image_exists(tag: str) -> bool:
    import docker.errors

    try:
        docker_client().images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def debian_mirror() -> str:
    """The Debian mirror this host's apt uses (so the build works wherever apt works)."""
    if os.environ.get("ISE_TRACE_DEBIAN_MIRROR"):
        return os.environ["ISE_TRACE_DEBIAN_MIRROR"]
    candidates = []
    for src in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if not src.is_file():
            continue
        text = src.read_text(errors="replace")
        candidates += re.findall(r"^URIs:\s*(\S+)", text, flags=re.M)
        candidates += re.findall(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+", text, flags=re.M)
    for uri in candidates:
        if "security" not in uri and "debian" in uri:
            return uri
    raise SandboxError(
        "no Debian mirror found in /etc/apt/sources.list*; set ISE_TRACE_DEBIAN_MIRROR to one"
    )


def _run(cmd: list[str], log: Path, what: str, **kw) -> None:
    with log.open("ab") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, **kw)
    if proc.returncode != 0:
        raise SandboxError(f"{what} failed (exit {proc.returncode}); see the build log {log}")


def build_base(config: SandboxConfig, log: Path) -> str:
    """debootstrap a minimal Debian with the workspace packages and `docker import` it."""
    tag = base_image_tag(config)
    if image_exists(tag):
        return tag
    if shutil.which("debootstrap") is None:
        raise SandboxError("debootstrap is not installed: apt-get install -y debootstrap (or use --from-registry)")
    if os.geteuid() != 0:
        raise SandboxError("building the base image with debootstrap needs root (or use --from-registry)")
    root = Path(tempfile.mkdtemp(prefix="ise-trace-rootfs-"))
    try:
        _say(f"debootstrap {config.suite} ({len(packages())} packages); about 1-2 minutes, log: {log}")
        _run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(packages())}",
             config.suite, str(root), debian_mirror()],
            log, "debootstrap",
        )
        # Keep the image small: package caches and lists are not needed at run time.
        for sub in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for f in (root / sub).glob("*"):
                if f.is_file():
                    f.unlink()
        _say(f"importing the base image as {tag}")
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        try:
            _run([docker_cli(), "import", "-", tag], log, "docker import", stdin=tar.stdout)
        finally:
            tar.stdout.close()
            tar.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return tag


def build_image(config: SandboxConfig | None = None, from_registry: bool = False, force: bool = False) -> str:
    """Make sure the workspace image exists; build only what changed. Returns its tag."""
    import docker.errors

    config = config or SandboxConfig()
    base = REGISTRY_BASE if from_registry else base_image_tag(config)
    tag = sandbox_image_tag(config, base=base)
    if image_exists(tag) and not force:
        return tag
    log = Path(tempfile.gettempdir()) / f"ise-trace-build-{tag.split(':')[1]}.log"
    if not from_registry:
        build_base(config, log)
    _say(f"building {tag} from {base}")
    try:
        _, lines = docker_client().images.build(
            path=str(sandbox_dir()), tag=tag, buildargs={"BASE": base}, rm=True, forcerm=True,
            labels={f"{config.label}.definition": tag},
        )
        with log.open("a") as out:
            for entry in lines:
                out.write(str(entry.get("stream", entry)) )
    except docker.errors.BuildError as e:
        with log.open("a") as out:
            for entry in e.build_log:
                out.write(str(entry.get("stream", entry)))
        raise SandboxError(f"building {tag} failed: {e.msg}; see the build log {log}") from None
    return tag


def require_image(config: SandboxConfig | None = None) -> str:
    """The tag of a built workspace image, or a clear message saying how to build it."""
    config = config or SandboxConfig()
    for tag in (sandbox_image_tag(config), sandbox_image_tag(config, base=REGISTRY_BASE)):
        if image_exists(tag):
            return tag
    raise SandboxError("the workspace image is not built (or its definition changed): run 'ise-trace sandbox build'")


def _say(msg: str) -> None:
    print(f"[sandbox] {msg}", file=sys.stderr, flush=True)

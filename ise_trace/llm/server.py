"""Start and stop a local OpenAI-compatible model server: vLLM on GPU hosts, else the embedded model.

    with ModelServer(backend="auto", port=8000) as server:   # start() + wait_healthy()
        model = make_chat_model("openai", server.model, server.base_url)

Used by `ise-trace serve`, the demo, Stage S and the tests' `llm_server` fixture. The server
runs in its own process group so stop() reaches vLLM's worker processes too.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from ..config import LLMConfig
from ..errors import LLMError, UserError
from .embedded import resolve_gguf

SERVER_BACKENDS = ("auto", "vllm", "llama-cpp")


def vllm_installed() -> bool:
    return importlib.util.find_spec("vllm") is not None


def gpu_available() -> bool:
    """True when nvidia-smi lists at least one GPU (without importing torch)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return False
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def choose_backend(backend: str, model: str | None) -> str:
    """Resolve 'auto' and check that the chosen backend can run here."""
    if backend not in SERVER_BACKENDS:
        raise UserError(f"--backend {backend}: choose one of {', '.join(SERVER_BACKENDS)}")
    if backend == "auto":
        if model and model.endswith(".gguf"):
            return "llama-cpp"
        return "vllm" if vllm_installed() and gpu_available() else "llama-cpp"
    if backend == "vllm":
        if not vllm_installed():
            raise UserError("--backend vllm: vllm is not installed; pip install 'ise-trace[vllm]' on a CUDA GPU host")
        if not gpu_available():
            raise UserError("--backend vllm: no CUDA GPU found (nvidia-smi lists none); use --backend llama-cpp")
    return backend


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(_family(host), socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def ensure_port_free(host: str, port: int) -> None:
    """Raise a UserError naming the port when something already listens there."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as s:
        # SO_REUSEADDR so that closed connections lingering in TIME_WAIT do not count as busy.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return
        except OSError as e:
            reason = e.strerror or str(e)
    raise UserError(
        f"port {port} on {host} is busy ({reason}); choose another with --port or stop what is listening there"
    )


class ModelServer:
    """One server process: start(), wait_healthy(), stop(); also a context manager."""

    def __init__(
        self,
        backend: str = "auto",
        model: str | None = None,
        host: str | None = None,
        port: int | None = None,
        config: LLMConfig | None = None,
        log_path: str | Path | None = None,
        quiet: bool = True,
    ):
        self.config = config or LLMConfig()
        self.backend = choose_backend(backend, model)
        self.host = host or self.config.serve_host
        self.port = port if port is not None else free_port(self.host)
        if self.backend == "llama-cpp":
            self.model_path, self.model = resolve_gguf(model)
        else:
            self.model_path, self.model = None, model or self.config.vllm_model
        self.quiet = quiet
        self.log_path = Path(log_path) if log_path else None
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/v1"

    def command(self) -> list[str]:
        if self.backend == "llama-cpp":
            return [
                sys.executable, "-m", "ise_trace.llm.embedded_server",
                "--model", str(self.model_path),
                "--model-alias", self.model,
                "--host", self.host,
                "--port", str(self.port),
                "--n-ctx", str(self.config.n_ctx),
                "--default-max-tokens", str(self.config.default_max_tokens),
                "--n-threads", str(self.config.n_threads),
                "--exit-with-parent",
            ]  # fmt: skip
        vllm = Path(sys.executable).with_name("vllm")
        launcher = [str(vllm)] if vllm.exists() else [shutil.which("vllm") or "vllm"]
        return launcher + [
            "serve", self.model,
            "--host", self.host,
            "--port", str(self.port),
            "--enable-auto-tool-choice",
            "--tool-call-parser", self.config.vllm_tool_call_parser,
        ]  # fmt: skip

    def start(self) -> None:
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("server already started")
        ensure_port_free(self.host, self.port)
        if self.quiet:
            if self.log_path is None:
                fd, name = tempfile.mkstemp(prefix=f"ise-trace-{self.backend}-{self.port}-", suffix=".log")
                os.close(fd)
                self.log_path = Path(name)
            output = open(self.log_path, "ab")
        else:
            output = None
        try:
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT if output else None,
                start_new_session=True,  # own process group: Ctrl-C is ours to forward, stop() gets all
            )
        finally:
            if output is not None:
                output.close()

    def wait_healthy(self, timeout_s: float | None = None) -> None:
        """Block until GET /v1/models answers; on exit or timeout, stop and raise LLMError."""
        timeout_s = self.config.serve_start_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process is None:
                raise RuntimeError("wait_healthy() before start()")
            code = self.process.poll()
            if code is not None:
                raise LLMError(f"the {self.backend} server exited with code {code} while starting{self._log_tail()}")
            if self.healthy():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise LLMError(
                    f"the {self.backend} server did not answer at {self.base_url} within {timeout_s:g}s{self._log_tail()}"
                )
            time.sleep(0.2)

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as response:
                return response.status == 200 and bool(json.load(response).get("data"))
        except (OSError, ValueError):
            return False

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM the server's process group, then SIGKILL what is left after timeout_s."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                return
            try:
                process.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def __enter__(self) -> ModelServer:
        self.start()
        try:
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _log_tail(self, lines: int = 15) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        tail = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return f"; its log ({self.log_path}) ends with:\n" + "\n".join(tail) if tail else ""


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET

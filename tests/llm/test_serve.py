"""`ise-trace serve` and ModelServer: start, health, busy port, Ctrl-C, backend choice."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from ise_trace.errors import UserError
from ise_trace.llm.server import ModelServer, choose_backend, ensure_port_free, free_port, vllm_installed


def test_busy_port_is_refused_with_a_clear_message():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(UserError, match=f"port {port} on 127.0.0.1 is busy.*--port"):
            ensure_port_free("127.0.0.1", port)
        server = ModelServer("llama-cpp", host="127.0.0.1", port=port)
        with pytest.raises(UserError, match="is busy"):
            server.start()
        assert server.process is None


def test_backend_choice():
    assert choose_backend("llama-cpp", None) == "llama-cpp"
    assert choose_backend("auto", "/models/x.gguf") == "llama-cpp"
    with pytest.raises(UserError, match="choose one of"):
        choose_backend("tgi", None)


@pytest.mark.skipif(vllm_installed(), reason="checks the message shown where vllm is absent")
def test_vllm_backend_without_vllm_says_what_to_install():
    with pytest.raises(UserError, match=r"pip install 'ise-trace\[vllm\]'"):
        choose_backend("vllm", None)
    assert choose_backend("auto", None) == "llama-cpp"


def _cli(*args):
    return [sys.executable, "-m", "ise_trace.cli", "serve", *args]


def test_cli_busy_port_exits_2_with_the_port_named():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        out = subprocess.run(_cli("--backend", "llama-cpp", "--port", str(port)), capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert f"port {port} on 127.0.0.1 is busy" in out.stderr


def test_embedded_server_defaults_to_the_full_context_and_a_reply_cap():
    """SmolLM2 supports 8,192 tokens (Claw-Eval's T039 alone needs 5,267); a request without
    max_tokens gets 1,024 rather than the rest of the context."""
    command = ModelServer("llama-cpp", host="127.0.0.1", port=free_port()).command()
    assert command[command.index("--n-ctx") + 1] == "8192"
    assert command[command.index("--default-max-tokens") + 1] == "1024"


def test_cli_bad_context_length_is_one_line():
    out = subprocess.run(_cli("--backend", "llama-cpp", "--n-ctx", "10"), capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "ise-trace serve: error: serve options: field 'n_ctx': Input should be greater than or equal to 256"
    ]


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_cli_serves_until_interrupted_then_frees_the_port(stop_signal, tmp_path):
    port = free_port()
    # The server's log goes to a file: an unread pipe fills up with llama.cpp's loading log and
    # then blocks every writer, the CLI's own "stopping" line included.
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        _cli("--backend", "llama-cpp", "--port", str(port), "--n-ctx", "1024"),
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        line = proc.stdout.readline()  # printed once the server answers
        assert f"at http://127.0.0.1:{port}/v1" in line, (tmp_path / "serve.log").read_text()[-2000:]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=5) as response:
            assert json.load(response)["data"][0]["id"] == "SmolLM2-135M-Instruct"
        proc.send_signal(stop_signal)  # what Ctrl-C (or a service manager) sends
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            ensure_port_free("127.0.0.1", port)  # the server child is gone too
            break
        except UserError:
            time.sleep(0.2)
    else:
        pytest.fail(f"port {port} still busy after serve exited")


@pytest.mark.slow
def test_server_that_dies_while_starting_is_reported_with_its_log(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf file")
    server = ModelServer("llama-cpp", model=str(bad), host="127.0.0.1", log_path=tmp_path / "log.txt")
    from ise_trace.errors import LLMError

    with pytest.raises(LLMError, match="exited with code .* while starting.*log"):
        with server:
            pass
    assert server.process.poll() is not None

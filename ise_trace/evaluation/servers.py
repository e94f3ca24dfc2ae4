"""Check, before a long eval starts, that the model and judge servers answer and serve the model."""

from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.request

from ..errors import UserError

# Model servers are usually local or on a private network: never route the check via a proxy.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def served_models(base_url: str, api_key: str, timeout_s: float, flag: str) -> list[str]:
    """GET {base_url}/models on an OpenAI-compatible server; one clear error for each failure."""
    url = base_url.rstrip("/") + "/models"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {api_key}"})
    try:
        with _OPENER.open(request, timeout=timeout_s) as reply:
            body = reply.read()
    except urllib.error.HTTPError as e:
        if e.code in (401, 403):
            raise UserError(f"{flag} {base_url}: the server refused the API key (HTTP {e.code}); set its key in the environment") from None
        if e.code == 404:
            raise UserError(f"{flag} {base_url}: {url} not found (HTTP 404); OpenAI-compatible URLs usually end in /v1") from None
        raise UserError(f"{flag} {base_url}: {url} answered HTTP {e.code}") from None
    except (TimeoutError, socket.timeout):
        raise UserError(f"{flag} {base_url}: no answer from {url} within {timeout_s:.0f}s; is the server up?") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise UserError(
            f"{flag} {base_url}: no OpenAI-compatible server answers ({reason}). "
            "Start one (for example `ise-trace serve`) or fix the URL."
        ) from None
    try:
        return [str(m["id"]) for m in json.loads(body)["data"]]
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{flag} {base_url}: {url} did not return an OpenAI model list") from None


def check_model_server(base_url: str, model: str, api_key: str, timeout_s: float, flag: str, model_flag: str) -> None:
    models = served_models(base_url, api_key, timeout_s, flag)
    if model not in models:
        shown = ", ".join(models[:10]) + (" ..." if len(models) > 10 else "")
        raise UserError(f"{model_flag} {model}: not served by {base_url} (it serves: {shown or 'nothing'})")


# How servers word a prompt that does not fit: llama-cpp-python ("This model's maximum context
# length is 4096 tokens. However, you requested 5267 tokens ..."; "Requested tokens (5267) exceed
# context window of 4096"), vLLM ("... maximum context length is 8192 tokens and your request
# has 9000 input tokens"), OpenAI (code context_length_exceeded).
_CONTEXT_PATTERNS = (
    re.compile(r"maximum context length is (?P<have>\d+) tokens\D+?(?P<need>\d+)(?: input)? tokens", re.I),
    re.compile(r"requested tokens \((?P<need>\d+)\) exceed context window of (?P<have>\d+)", re.I),
    re.compile(r"maximum context length is (?P<have>\d+) tokens", re.I),
    re.compile(r"context_length_exceeded|exceeds? (?:the )?(?:model's )?context (?:window|length)", re.I),
)


def context_too_small(error: str | None) -> tuple[int | None, int | None] | None:
    """(tokens the server has, tokens the request needed) when `error` says the prompt did not
    fit the model server's context; either number is None when the message does not give it."""
    if not error:
        return None
    for pattern in _CONTEXT_PATTERNS:
        found = pattern.search(error)
        if found:
            groups = found.groupdict()
            return (int(groups["have"]) if groups.get("have") else None,
                    int(groups["need"]) if groups.get("need") else None)
    return None


def context_advice(task_id: str, base_url: str, have: int | None, need: int | None) -> str:
    """One line: what did not fit, and the two ways out."""
    sizes = ""
    if have and need:
        sizes = f" ({need:,} tokens needed, {have:,} available)"
    elif have:
        sizes = f" ({have:,} tokens available)"
    floor = max(need or 0, 2 * (have or 4096))
    suggested = 1 << (floor - 1).bit_length()  # the next power of two
    return (
        f"the model server at {base_url} has too small a context for {task_id}{sizes}: restart it with a "
        f"larger one (`ise-trace serve --n-ctx {suggested}`, or vLLM's --max-model-len) or serve a model "
        "with a larger context, then rerun the same command"
    )

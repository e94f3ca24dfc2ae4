"""Check, before a long eval starts, that the model and judge servers answer and serve the model."""

from __future__ import annotations

import json
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

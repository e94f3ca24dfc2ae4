"""Check, before a long eval starts, that the model and judge servers answer and serve the model."""

from __future__ import annotations

import httpx

from ..errors import UserError


def served_models(base_url: str, api_key: str, timeout_s: float, flag: str) -> list[str]:
    """GET {base_url}/models on an OpenAI-compatible server; one clear error for each failure."""
    url = base_url.rstrip("/") + "/models"
    try:
        reply = httpx.get(url, headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout_s, trust_env=False)
    except httpx.TimeoutException:
        raise UserError(f"{flag} {base_url}: no answer from {url} within {timeout_s:.0f}s; is the server up?") from None
    except httpx.HTTPError as e:
        raise UserError(
            f"{flag} {base_url}: no OpenAI-compatible server answers ({type(e).__name__}: {e}). "
            "Start one (for example `ise-trace serve`) or fix the URL."
        ) from None
    if reply.status_code in (401, 403):
        raise UserError(f"{flag} {base_url}: the server refused the API key (HTTP {reply.status_code}); set its key in the environment")
    if reply.status_code == 404:
        raise UserError(f"{flag} {base_url}: {url} not found (HTTP 404); OpenAI-compatible URLs usually end in /v1")
    if reply.status_code >= 400:
        raise UserError(f"{flag} {base_url}: {url} answered HTTP {reply.status_code}")
    try:
        data = reply.json()["data"]
        return [str(m["id"]) for m in data]
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{flag} {base_url}: {url} did not return an OpenAI model list") from None


def check_model_server(base_url: str, model: str, api_key: str, timeout_s: float, flag: str, model_flag: str) -> None:
    models = served_models(base_url, api_key, timeout_s, flag)
    if model not in models:
        shown = ", ".join(models[:10]) + (" ..." if len(models) > 10 else "")
        raise UserError(f"{model_flag} {model}: not served by {base_url} (it serves: {shown or 'nothing'})")

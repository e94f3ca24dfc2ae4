"""A scripted stand-in model server: a real OpenAI-compatible HTTP server on loopback.

Its replies are fixed per model name so driver tests are deterministic:
- `scripted-good` calls the first tool offered (`notes_search` in the fixture tasks), then
  answers with what the tool returned;
- `scripted-weak` answers at once without looking anything up;
- `scripted-broken` answers every chat request with HTTP 500;
- `scripted-judge` answers {"score": 0.9, ...} when the conversation names the room, else 0.1.
It counts chat requests per model, which the resume tests read, fails (HTTP 500) any
request whose conversation contains a string in `broken_phrases`, and answers one containing a
string in `slow_phrases` only after `slow_s` seconds (a trial that is still running).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODELS = ("scripted-good", "scripted-weak", "scripted-broken", "scripted-judge")


def _reply(model: str, messages: list[dict], tools: list[dict] | None) -> dict:
    message: dict = {"role": "assistant", "content": None}
    if model == "scripted-judge":
        score = 0.9 if "Room 4B" in messages[-1]["content"] else 0.1
        message["content"] = json.dumps({"score": score, "reasoning": "scripted verdict"})
    elif model == "scripted-weak":
        message["content"] = "I am not sure, sorry."
    else:
        tool_results = [m["content"] for m in messages if m["role"] == "tool"]
        if tools and not tool_results:
            first = tools[0]["function"]
            wants_query = "query" in (first.get("parameters") or {}).get("properties", {})
            message["tool_calls"] = [{
                "id": "call_1", "type": "function",
                "function": {"name": first["name"], "arguments": json.dumps({"query": "offsite"} if wants_query else {})},
            }]
        else:
            message["content"] = f"From your notes: {' '.join(tool_results) or 'hello'}"
    return {
        "id": "chatcmpl-scripted", "object": "chat.completion", "model": model,
        "choices": [{"index": 0, "message": message,
                     "finish_reason": "tool_calls" if message.get("tool_calls") else "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


class ScriptedModelServer:
    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.broken_phrases: set[str] = set()
        self.slow_phrases: set[str] = set()
        self.slow_s = 120.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path.rstrip("/") == "/v1/models":
                    return self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in MODELS]})
                self._send(404, {"error": "not found"})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                if self.path.rstrip("/") != "/v1/chat/completions":
                    return self._send(404, {"error": "not found"})
                model = body.get("model", "")
                server.requests[model] += 1
                said = json.dumps(body.get("messages", []))
                if model == "scripted-broken" or model not in MODELS or any(p in said for p in server.broken_phrases):
                    return self._send(500, {"error": {"message": "scripted failure"}})
                if any(p in said for p in server.slow_phrases):
                    time.sleep(server.slow_s)
                self._send(200, _reply(model, body["messages"], body.get("tools")))

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedModelServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

"""Fixture-backed notes service for the stand-in checkout (search, delete, audit, reset)."""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

with open(os.environ["NOTES_FIXTURES"], encoding="utf-8") as f:
    NOTES = json.load(f)
CALLS = []


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.headers.get("X-Health-Check") == "1":
            return self._reply(200, {"ok": True})
        if self.path == "/notes/search":
            words = str(body.get("query", "")).lower().split()
            found = [n for n in NOTES if any(w in n["text"].lower() for w in words)]
            CALLS.append({"endpoint": self.path, "request_body": body})
            return self._reply(200, {"notes": found})
        if self.path == "/notes/delete":
            CALLS.append({"endpoint": self.path, "request_body": body})
            return self._reply(200, {"deleted": body.get("note_id")})
        if self.path == "/notes/audit":
            return self._reply(200, {"calls": CALLS})
        if self.path == "/notes/reset":
            CALLS.clear()
            return self._reply(200, {"reset": True})
        return self._reply(404, {"error": f"no endpoint {self.path}"})


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "9100"))), Handler).serve_forever()

"""The view server on loopback over a run folder and over a dataset folder built by our builder."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.view.conftest import FALSE_SUCCESS_ID, HANDMADE_ID, HTML_OUTPUT, UNVERIFIED_ID, handmade, serving, synthetic


def get(server, path: str) -> tuple[int, dict | bytes, dict]:
    try:
        with urllib.request.urlopen(server.url + path.lstrip("/"), timeout=30) as r:
            body, status, headers = r.read(), r.status, dict(r.headers)
    except urllib.error.HTTPError as e:
        body, status, headers = e.read(), e.code, dict(e.headers)
    if headers.get("Content-Type", "").startswith("application/json"):
        return status, json.loads(body), headers
    return status, body, headers


def listing(server, **params) -> dict:
    status, data, _ = get(server, "api/list?" + urllib.parse.urlencode(params))
    assert status == 200, data
    return data


def verification_of(t) -> str:
    return "unverified" if t.verification.passed is None else ("passed" if t.verification.passed else "failed")


@pytest.fixture(params=["run", "dataset"])
def folder(request, run_folder, dataset_folder):
    return run_folder if request.param == "run" else dataset_folder


def test_list_counts_and_filters(folder, trajectories):
    by_id = {t.id: t for t in trajectories}
    with serving(folder) as server:
        assert server.server_address[0] == "127.0.0.1"
        everything = listing(server, limit=500)
        assert everything["total"] == everything["matched"] == len(trajectories)
        assert {r["id"] for r in everything["rows"]} == set(by_id)
        for row in everything["rows"]:  # what each row shows is the trajectory's own figures
            t = by_id[row["id"]]
            assert (row["user_turns"], row["tool_calls"], row["failed_calls"]) == (
                t.stats.user_turns, t.stats.tool_calls, t.stats.failed_calls)
            assert row["verification"] == verification_of(t)
        facets = everything["facets"]
        want = {k: sum(verification_of(t) == k for t in trajectories) for k in ("passed", "failed", "unverified")}
        false_successes = {t.id for t in trajectories if t.outcome.status == "success" and t.verification.passed is False}
        assert FALSE_SUCCESS_ID in false_successes
        assert facets["verification"] == want | {"false_success": len(false_successes)}
        assert facets["failed"] == sum(t.stats.failed_calls > 0 for t in trajectories)

        failed = listing(server, failed=1, limit=500)
        assert {r["id"] for r in failed["rows"]} == {t.id for t in trajectories if t.stats.failed_calls}
        assert failed["counts"]["failed"] == failed["matched"]

        false = listing(server, verification="false_success", limit=500)
        assert {r["id"] for r in false["rows"]} == false_successes and all(r["false_success"] for r in false["rows"])
        assert {r["id"] for r in listing(server, verification="unverified", limit=500)["rows"]} == {
            t.id for t in trajectories if t.verification.passed is None}
        assert UNVERIFIED_ID in {r["id"] for r in listing(server, verification="unverified", limit=500)["rows"]}

        assert {r["id"] for r in listing(server, domain="File-IO", limit=500)["rows"]} == {
            t.id for t in trajectories if "File-IO" in [d.name for d in t.intent.domains]}
        assert {r["id"] for r in listing(server, complexity="medium", model="Qwen3-8B")["rows"]} == {
            HANDMADE_ID, FALSE_SUCCESS_ID, UNVERIFIED_ID}
        assert listing(server, model="agent-1", limit=500)["matched"] == sum(t.provenance.agent_model == "agent-1" for t in trajectories)
        assert {r["id"] for r in listing(server, q="priya FREIGHT-less")["rows"]} == set()
        assert {r["id"] for r in listing(server, q="Priya logistics")["rows"]} == {HANDMADE_ID, FALSE_SUCCESS_ID, UNVERIFIED_ID}
        assert listing(server, outcome="success", verification="failed", failed=1)["matched"] == sum(
            t.outcome.status == "success" and t.verification.passed is False and t.stats.failed_calls > 0 for t in trajectories)


def test_paging_and_order(folder, trajectories):
    with serving(folder) as server:
        pages = [listing(server, limit=10, offset=o) for o in (0, 10, 20)]
        ids = [r["id"] for p in pages for r in p["rows"]]
        assert [len(p["rows"]) for p in pages] == [10, 10, len(trajectories) - 20]
        assert sorted(ids) == sorted(t.id for t in trajectories)  # every row once, across pages
        most = listing(server, sort="failed", limit=500)["rows"]
        assert [r["failed_calls"] for r in most] == sorted((t.stats.failed_calls for t in trajectories), reverse=True)


def test_trajectory_page_is_the_whole_record(folder, trajectories):
    with serving(folder) as server:
        for want in (trajectories[0], trajectories[1], trajectories[5]):
            status, got, _ = get(server, "api/trajectory?id=" + urllib.parse.quote(want.id))
            assert status == 200
            view = got.pop("view")
            assert view["problem"] is None and view["location"]
            # the dataset's row comes back in the ledger's shape: arguments objects, no null keys
            assert got == want.model_dump(mode="json")
        status, got, _ = get(server, "api/trajectory?id=" + HANDMADE_ID)
        failed = [e for e in got["executions"] if e["is_error"]]
        assert [(e["tool_call_id"], e["exit_code"]) for e in failed] == [("c2", 2)]
        assert HTML_OUTPUT in [m["content"] for m in got["messages"]]
        assert got["stats"]["drift_turns"] == 1 and got["stats"]["recovered_calls"] == 1
        status, missing, _ = get(server, "api/trajectory?id=nope")
        assert status == 404 and "nope" in missing["error"]


@pytest.mark.parametrize("path", [
    "/../../../etc/passwd",
    "/static/../../../../etc/passwd",
    "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/..%2f..%2f..%2fetc%2fpasswd",
    "//etc/passwd",
    "/static//etc/passwd",
    "/trajectories.jsonl",
    "/run.json",
    "/data/trajectories",
    "/static/__init__.py",
    "/static/../source.py",
    "/api/trajectory?id=../../trajectories.jsonl",
    "/api/trajectory?id=%2Fetc%2Fpasswd",
])
def test_no_path_traversal(run_folder, path):
    """Raw request lines (no client normalisation): only the fixed assets and the API answer."""
    with serving(run_folder) as server:
        host, port = server.server_address[:2]
        with socket.create_connection((host, port), timeout=10) as s:
            s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.split(b" ")[1] == b"404", head
        assert b"root:" not in body and b"Priya" not in body and b"import" not in body


def test_assets_and_headers(run_folder):
    with serving(run_folder) as server:
        status, page, headers = get(server, "/")
        assert status == 200 and b'src="static/app.js"' in page
        assert "script-src 'self'" in headers["Content-Security-Policy"] and headers["X-Content-Type-Options"] == "nosniff"
        for asset in ("static/app.js", "static/style.css"):
            assert get(server, asset)[0] == 200
        assert b"http://" not in get(server, "static/app.js")[1] + page  # nothing from the network
        assert b"http" not in get(server, "static/style.css")[1]


def test_a_run_that_is_still_written(tmp_path, trajectories):
    """New trajectories appear on the next request; a half-written last line waits for its end;
    a record written twice by a resumed run is listed once."""
    from tests.view.conftest import write_run

    run = write_run(tmp_path / "run", trajectories[:3])
    ledger = run / "trajectories.jsonl"
    with serving(run) as server:
        assert listing(server)["total"] == 3
        extra = [synthetic(100), synthetic(101)]
        with ledger.open("a", encoding="utf-8") as f:
            f.write(extra[0].model_dump_json() + "\n")
            f.write(trajectories[0].model_dump_json() + "\n")  # the duplicate
            f.write(extra[1].model_dump_json()[:200])  # a torn / half-written line
        got = listing(server, limit=500)
        assert got["total"] == 4 and [r["id"] for r in got["rows"]][-1] == extra[0].id
        with ledger.open("a", encoding="utf-8") as f:
            f.write(extra[1].model_dump_json()[200:] + "\n")
        got = listing(server, limit=500)
        assert got["total"] == 5 and got["rows"][-1]["id"] == extra[1].id
        status, t, _ = get(server, "api/trajectory?id=" + extra[1].id)
        assert status == 200 and t["view"]["location"] == "trajectories.jsonl line 6"
        # a whole last record without its newline is a record (the ledger's repair policy)
        late = handmade("late-one", True)
        with ledger.open("a", encoding="utf-8") as f:
            f.write(late.model_dump_json())
        assert listing(server, limit=500)["rows"][-1]["id"] == "late-one"
        with ledger.open("a", encoding="utf-8") as f:
            f.write("\n" + synthetic(102).model_dump_json() + "\n")
        assert [r["id"] for r in listing(server, limit=500)["rows"][-2:]] == ["late-one", synthetic(102).id]


def test_a_bad_ledger_line_is_named_on_the_page(tmp_path, trajectories):
    from tests.view.conftest import write_run

    run = write_run(tmp_path / "run", trajectories[:2])
    with serving(run) as server:
        with (run / "trajectories.jsonl").open("a", encoding="utf-8") as f:
            f.write("not json\n")
        status, data, _ = get(server, "api/list")
        assert status == 500 and "trajectories.jsonl:3" in data["error"]

"""The agent's tools in a real workspace: results, structured records, recoverable errors."""

from __future__ import annotations

import json

import pytest

from ise_trace.execute import TOOL_SCHEMAS, run_tool

pytestmark = pytest.mark.docker


def call(aio, pool, steps, files=None):
    async def go():
        async with pool.acquire(files=files) as ws:
            return [await run_tool(ws, name, args) for name, args in steps]

    return aio.run(go())


def test_schemas_are_openai_function_schemas():
    names = [s["function"]["name"] for s in TOOL_SCHEMAS]
    assert names == ["exec", "read", "write", "edit", "list", "glob", "grep"]
    for s in TOOL_SCHEMAS:
        assert s["type"] == "function"
        params = s["function"]["parameters"]
        assert params["type"] == "object"
        assert set(params["required"]) <= set(params["properties"])
        for prop in params["properties"].values():
            assert "type" in prop and "description" in prop
    exec_params = TOOL_SCHEMAS[0]["function"]["parameters"]
    assert exec_params["required"] == ["command"]
    json.dumps(TOOL_SCHEMAS)


def test_exec_shows_exit_code_to_the_agent(aio, sandbox_pool):
    ok, bad = call(aio, sandbox_pool, [("exec", {"command": "echo hi"}), ("exec", {"command": "ls nope"})])
    assert ok.content == "hi\n[exit code: 0]" and ok.exit_code == 0 and not ok.is_error
    assert "No such file" in bad.content and bad.content.endswith("[exit code: 2]")
    assert bad.is_error and bad.exit_code == 2


def test_write_read_edit_list_glob_grep(aio, sandbox_pool):
    results = call(
        aio,
        sandbox_pool,
        [
            ("write", {"path": "src/app.py", "content": "x = 1\ny = 2\nprint(x + y)\n"}),
            ("read", {"path": "/workspace/src/app.py", "offset": 2, "limit": 1}),
            ("edit", {"path": "src/app.py", "old_text": "y = 2", "new_text": "y = 40"}),
            ("exec", {"command": "python3 app.py", "workdir": "src"}),
            ("list", {"path": "src"}),
            ("glob", {"pattern": "**/*.py"}),
            ("grep", {"pattern": "Y = \\d+", "ignore_case": True}),
        ],
    )
    write, read, edit, run, listing, glob, grep = results
    assert not any(r.is_error for r in results), [r.content for r in results]
    assert "wrote 25 bytes" in write.content
    assert read.content.startswith("y = 2") and "more lines" in read.content
    assert run.content.startswith("41")
    assert "app.py" in listing.content
    assert glob.content == "src/app.py"
    assert grep.content == "src/app.py:2: y = 40"


def test_read_seeded_file(aio, sandbox_pool):
    (r,) = call(aio, sandbox_pool, [("read", {"path": "data/in.csv"})], files={"data/in.csv": "a,b\n1,2\n"})
    assert r.content == "a,b\n1,2\n" and not r.is_error


@pytest.mark.parametrize(
    "name,args,expected",
    [
        ("rm_rf", {"path": "/"}, "unknown tool 'rm_rf'"),
        ("exec", {}, "'command': field required"),
        ("exec", {"command": ["ls"]}, "'command': input should be a valid string"),
        ("exec", "{not json", "not valid JSON"),
        ("exec", {"command": "ls", "sudo": True}, "'sudo': extra inputs are not permitted"),
        ("read", {"path": "/etc/passwd"}, "outside /workspace"),
        ("write", {"path": "../../etc/x", "content": "x"}, "outside /workspace"),
        ("read", {"path": "missing.txt"}, "no such file"),
        ("exec", {"command": "ls", "workdir": "/etc"}, "outside /workspace"),
    ],
)
def test_bad_calls_are_error_results_not_exceptions(aio, sandbox_pool, name, args, expected):
    (r,) = call(aio, sandbox_pool, [(name, args)])
    assert r.is_error
    assert r.content.startswith("error: ")
    assert expected in r.content


def test_symlink_cannot_escape_the_workspace(aio, sandbox_pool):
    link, read, write = call(
        aio,
        sandbox_pool,
        [
            ("exec", {"command": "ln -s /etc esc"}),
            ("read", {"path": "esc/passwd"}),
            ("write", {"path": "esc/evil", "content": "x"}),
        ],
    )
    assert not link.is_error
    assert read.is_error and "outside /workspace" in read.content
    assert write.is_error and "outside /workspace" in write.content


def test_edit_requires_a_unique_exact_match(aio, sandbox_pool):
    _, twice, missing = call(
        aio,
        sandbox_pool,
        [
            ("write", {"path": "f.txt", "content": "a\na\n"}),
            ("edit", {"path": "f.txt", "old_text": "a", "new_text": "b"}),
            ("edit", {"path": "f.txt", "old_text": "zzz", "new_text": "b"}),
        ],
    )
    assert twice.is_error and "occurs 2 times" in twice.content
    assert missing.is_error and "was not found" in missing.content

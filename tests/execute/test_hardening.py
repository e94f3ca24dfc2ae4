"""The workspace against an agent that attacks it: the daemon stays out of reach, hostile
arguments come back as readable errors in the same workspace, and resets leave nothing behind.

"The same workspace" is checked every time: same container, `Workspace.recycles` unchanged,
the seeded file still there.
"""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import time
import uuid

import pytest

from ise_trace.errors import SandboxError
from ise_trace.execute import run_tool
from ise_trace.execute.tools import parse_arguments
from ise_trace.execute.workspace import CommandResult

pytestmark = pytest.mark.docker

SEED = {"seed.txt": "seeded\n"}


def in_workspace(aio, pool, fn, files=SEED):
    """Run `fn(ws)` in a workspace seeded with `files`; return its result, and whether the same
    workspace (same name, no recycle, seed still there) answered afterwards."""

    async def go():
        async with pool.acquire(files=files) as ws:
            name, recycles = ws.name, ws.recycles
            result = await fn(ws)
            after = await run_tool(ws, "read", {"path": "seed.txt"}) if files is SEED else None
            same = ws.name == name and ws.recycles == recycles and (after is None or after.content == "seeded\n")
            return result, same

    return aio.run(go())


# ----------------------------------------------------------------------------- the daemon is out of reach


@pytest.mark.parametrize(
    "attack",
    [
        "kill -9 -1",
        "pkill -STOP python3; pkill -STOP -f workspace_daemon; kill -STOP 1",
        "kill -9 $(pgrep -f workspace_daemon) 1",
    ],
)
def test_agent_cannot_kill_or_stop_the_daemon(aio, sandbox_pool, attack):
    async def go(ws):
        hit = await ws.exec(attack, timeout_s=10)
        return hit, await ws.exec("cat seed.txt"), await run_tool(ws, "list", {})

    (hit, cat, listing), same = in_workspace(aio, sandbox_pool, go)
    assert not hit.recycled and not cat.recycled
    assert cat.output == "seeded\n" and "seed.txt" in listing.content
    assert same


def test_agent_can_neither_trace_nor_open_the_daemon(aio, sandbox_pool):
    probe = r"""
import ctypes, os, subprocess
libc = ctypes.CDLL(None, use_errno=True)
daemon = int(subprocess.check_output(["pgrep", "-u", "root", "-x", "python3"]))
for pid in (1, daemon):  # init and the daemon
    traced = libc.ptrace(16, pid, None, None)  # PTRACE_ATTACH
    print("owner", os.stat(f"/proc/{pid}").st_uid, "ptrace", traced, os.strerror(ctypes.get_errno()))
    for path in (f"/proc/{pid}/fd/0", f"/proc/{pid}/fd/1", f"/proc/{pid}/mem"):
        try:
            os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
            print("opened", path)
        except OSError as e:
            print("denied", path, e.strerror)
"""

    async def go(ws):
        await run_tool(ws, "write", {"path": "probe.py", "content": probe})
        return await ws.exec("python3 probe.py")

    r, same = in_workspace(aio, sandbox_pool, go)
    assert r.output.count("owner 0 ptrace -1 Operation not permitted") == 2, r.output
    assert r.output.count("denied /proc") == 6 and "opened" not in r.output, r.output
    assert same


FORGER = r"""
import json, os, time
lines = "".join(json.dumps({"id": i, "nonce": None, "output": "FORGED", "exit_code": 0, "is_error": False,
                            "duration_ms": 1.0}) + "\n" for i in range(1, 3000)).encode()
wrote, denied, end = 0, 0, time.time() + 3
while time.time() < end:
    for pid in [p for p in os.listdir("/proc") if p.isdigit() and p != str(os.getpid())]:
        for fd in (0, 1):
            try:
                f = os.open(f"/proc/{pid}/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                denied += 1
                continue
            try:
                os.write(f, lines)
                wrote += 1
            except OSError:
                pass
            os.close(f)
open("/tmp/forger.log", "w").write(f"{wrote} {denied}\n")
"""


def test_forged_replies_are_never_taken_for_results(aio, sandbox_pool):
    async def go(ws):
        await run_tool(ws, "write", {"path": "forger.py", "content": FORGER})
        # In the background, so the forger writes into every process it can while we keep calling.
        await ws.exec("python3 forger.py > /dev/null 2>&1 &")
        seen = []
        end = time.monotonic() + 3
        while time.monotonic() < end:
            seen.append(await run_tool(ws, "read", {"path": "seed.txt"}))
            seen.append(await run_tool(ws, "list", {}))
        await asyncio.sleep(1)
        log = await ws.exec("cat /tmp/forger.log")
        return seen, log, await ws.exec("cat seed.txt")

    (seen, log, cat), same = in_workspace(aio, sandbox_pool, go)
    assert len(seen) > 20
    assert all("FORGED" not in r.content and not r.is_error for r in seen)
    assert all(r.content == "seeded\n" for r in seen[::2])
    wrote, denied = map(int, log.output.split())
    assert denied > 0  # the daemon's and init's stdin/stdout, at least
    assert cat.output == "seeded\n" and "FORGED" not in cat.output
    assert same


def test_file_tools_act_with_the_agents_permissions(aio, sandbox_pool):
    async def go(ws):
        write = await run_tool(ws, "write", {"path": "new/file.txt", "content": "x"})
        owner = await ws.exec("stat -c %u:%g new new/file.txt; echo s > secret; chmod 000 secret; "
                              "mkdir locked; chmod 000 locked")
        read = await run_tool(ws, "read", {"path": "secret"})
        overwrite = await run_tool(ws, "write", {"path": "secret", "content": "y"})
        listing = await run_tool(ws, "list", {"path": "locked"})
        return write, owner, read, overwrite, listing

    (write, owner, read, overwrite, listing), same = in_workspace(aio, sandbox_pool, go)
    assert not write.is_error
    assert owner.output.split() == ["1000:1000", "1000:1000"]
    for r in (read, overwrite, listing):
        assert r.is_error and "ermission denied" in r.content, r.content
    assert same


def test_a_daemon_killed_from_outside_is_recycled_and_says_so(aio, sandbox_pool):
    async def go(ws):
        before = ws.recycles
        subprocess.run(["docker", "exec", ws.name, "pkill", "-KILL", "-f", "workspace_daemon"], check=False)
        r = await ws.exec("echo hi")
        return r, ws.recycles - before, await ws.exec("echo again")

    (r, recycles, again), _ = in_workspace(aio, sandbox_pool, go, files=None)
    assert r.recycled and r.is_error and recycles == 1
    assert again.output == "again\n" and not again.recycled


# ----------------------------------------------------------------------------- hostile arguments


@pytest.mark.parametrize(
    "name,args,expected",
    [
        ("read", {"path": "a\x00b"}, "NUL byte"),
        ("exec", {"command": "echo a\x00b"}, "NUL byte"),
        ("exec", {"command": "ls", "workdir": "sub\x00"}, "NUL byte"),
        ("write", {"path": "x.txt", "content": "bad \ud800 text"}, "U+D800"),
        ("edit", {"path": "seed.txt", "old_text": "seeded", "new_text": "\udfff"}, "U+DFFF"),
        ("exec", {"command": "echo \ud800"}, "U+D800"),
        ("read", {"path": "\ud800.txt"}, "U+D800"),
    ],
)
def test_unsendable_arguments_are_errors_at_the_tool_and_at_the_daemon(aio, sandbox_pool, name, args, expected):
    async def go(ws):
        via_tool = await run_tool(ws, name, args)
        # The daemon checks too: a caller that bypasses the tool layer cannot take it down.
        op_args = {"timeout_s": 5, **args} if name == "exec" else args
        via_daemon = await ws.run_op(name, 10, **op_args)
        return via_tool, via_daemon

    (via_tool, via_daemon), same = in_workspace(aio, sandbox_pool, go)
    assert via_tool.is_error and via_tool.content.startswith("error: ") and expected in via_tool.content
    assert via_daemon.is_error and via_daemon.output.startswith("error: ") and expected in via_daemon.output
    assert not via_daemon.recycled
    via_daemon.output.encode("utf-8")
    assert same


def test_named_pipes_are_errors_not_hangs(aio, sandbox_pool):
    async def go(ws):
        await ws.exec("mkfifo pipe; mkdir d; mkfifo d/pipe; echo findme > d/f")
        t = time.perf_counter()
        results = [
            await run_tool(ws, "read", {"path": "pipe"}),
            await run_tool(ws, "grep", {"pattern": "x", "path": "pipe"}),
            await run_tool(ws, "write", {"path": "pipe", "content": "x"}),
            await run_tool(ws, "edit", {"path": "pipe", "old_text": "x", "new_text": "y"}),
        ]
        walk = await run_tool(ws, "grep", {"pattern": "findme", "path": "d"})
        return results, walk, time.perf_counter() - t

    (results, walk, elapsed), same = in_workspace(aio, sandbox_pool, go)
    for r in results:
        assert r.is_error and "not a regular file" in r.content, r.content
    assert walk.content == "d/f:1: findme"  # a pipe met during a search is skipped
    assert elapsed < 5
    assert same


def test_catastrophic_grep_pattern_times_out_with_a_hint(aio, sandbox_pool):
    async def go(ws):
        await run_tool(ws, "write", {"path": "as.txt", "content": "a" * 40 + "!\n"})
        t = time.perf_counter()
        r = await run_tool(ws, "grep", {"pattern": "(a+)+$"})
        return r, time.perf_counter() - t, await run_tool(ws, "grep", {"pattern": "a!"})

    (r, elapsed, after), same = in_workspace(aio, sandbox_pool, go)
    assert r.is_error and "did not finish within 5s" in r.content and "(a+)+$" in r.content
    assert elapsed < 8
    assert after.content.startswith("as.txt:1: aaa")
    assert same


def test_a_tree_1500_levels_deep_is_walked_within_bounds_and_reset(aio, sandbox_pool):
    deep = "import os\nfor _ in range(1500):\n    os.mkdir('d'); os.chdir('d')\nopen('x.txt', 'w').write('deep')\n"

    async def go(ws):
        await run_tool(ws, "write", {"path": "mk.py", "content": deep})
        made = await ws.exec("python3 mk.py && echo shallow > top.txt")
        t = time.perf_counter()
        glob = await run_tool(ws, "glob", {"pattern": "**/*.txt"})
        grep = await run_tool(ws, "grep", {"pattern": "deep|shallow"})
        elapsed = time.perf_counter() - t
        await ws.reset()
        left = await ws.exec("ls -A /workspace | wc -l")
        return made, glob, grep, elapsed, left

    (made, glob, grep, elapsed, left), _ = in_workspace(aio, sandbox_pool, go, files=None)
    assert made.exit_code == 0
    for r in (glob, grep):
        assert not r.is_error and "top.txt" in r.content and "levels were not searched" in r.content, r.content
        assert not r.recycled
    assert elapsed < 5
    assert left.output.strip() == "0"  # the reset removed the whole tree


def test_a_cancelled_call_does_not_put_the_next_one_out_of_step(aio, sandbox_pool):
    async def go(ws):
        task = asyncio.create_task(ws.exec("sleep 1; echo late"))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await ws.exec("echo next"), await run_tool(ws, "read", {"path": "seed.txt"})

    (nxt, read), same = in_workspace(aio, sandbox_pool, go)
    assert nxt.output == "next\n" and not nxt.recycled
    assert read.content == "seeded\n"
    assert same


# ----------------------------------------------------------------------------- file names and output text


def test_non_utf8_file_names_give_valid_utf8_results(aio, sandbox_pool):
    async def go(ws):
        await ws.exec("printf 'caf\\xe9 au lait\\n' > $'caf\\xe9.txt'; printf 'raw \\xff\\xfe bytes\\n'")
        return [
            await run_tool(ws, "list", {}),
            await run_tool(ws, "glob", {"pattern": "caf*"}),
            await run_tool(ws, "grep", {"pattern": "lait"}),
            await run_tool(ws, "exec", {"command": "printf 'raw \\xff bytes'; ls"}),
        ]

    results, same = in_workspace(aio, sandbox_pool, go)
    for r in results:
        r.content.encode("utf-8")  # strict: no lone surrogate anywhere
    listing, glob, grep, run = results
    assert "caf\\xe9.txt" in listing.content and glob.content == "caf\\xe9.txt"
    assert grep.content.startswith("caf\\xe9.txt:1: caf")
    assert "raw \ufffd bytes" in run.content
    assert same


def test_command_results_are_valid_utf8_whatever_the_daemon_sent():
    r = CommandResult(output="name caf\udce9 and \ud800", exit_code=0, duration_ms=1.0)
    assert r.output == "name caf\\udce9 and \\ud800"
    r.output.encode("utf-8")


# ----------------------------------------------------------------------------- starting commands


def test_argument_list_too_long_is_explained_and_kills_nothing(aio, sandbox_pool):
    heredoc = "cat > /dev/null <<'EOF'\n" + ("x" * 79 + "\n") * 1800 + "EOF\n"  # ~140 KB in one argument

    async def go(ws):
        await ws.exec("sleep 300 > /dev/null 2>&1 &")
        big = await run_tool(ws, "exec", {"command": heredoc})
        return big, await ws.exec("pgrep -c sleep")

    (big, alive), same = in_workspace(aio, sandbox_pool, go)
    assert big.is_error and "argument list too long" in big.content
    assert "write tool" in big.content and "process limit" not in big.content
    assert alive.output.strip() == "1"  # the background process was not killed
    assert same


def test_bad_timeouts_are_rejected_by_the_daemon_and_the_tool(aio, sandbox_pool):
    async def go(ws):
        return [await ws.run_op("exec", 5, command="echo ran", timeout_s=t) for t in
                (float("nan"), float("inf"), -1, 0, "soon")]

    results, same = in_workspace(aio, sandbox_pool, go)
    for r in results:
        assert r.is_error and "timeout must be a finite number of seconds above 0" in r.output
        assert "ran" not in r.output and not r.recycled
    assert same
    for bad in ('{"command": "true", "timeout": NaN}', '{"command": "true", "timeout": Infinity}',
                {"command": "true", "timeout": -1}):
        assert isinstance(parse_arguments("exec", bad), str), bad


# ----------------------------------------------------------------------------- resets


def test_reset_removes_ipc_objects_of_the_previous_episode(aio, sandbox_pool):
    make = r"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
shm = libc.shmget(0x1234, 700 << 20, 0o1600)  # 700 MiB, never touched: costs no memory yet
libc.shmat.restype = ctypes.c_void_p
libc.shmat(shm, None, 0)
print(shm >= 0, libc.semget(0x2345, 4, 0o1600) >= 0, libc.msgget(0x3456, 0o1600) >= 0,
      libc.mq_open(b"/episode-q", os.O_CREAT | os.O_RDWR, 0o600, None) >= 0)
"""
    count = "tail -q -n +2 /proc/sysvipc/shm /proc/sysvipc/sem /proc/sysvipc/msg | wc -l; ls /dev/mqueue | wc -l"

    async def go(ws):
        await run_tool(ws, "write", {"path": "ipc.py", "content": make})
        made = await ws.exec("python3 ipc.py; " + count)
        await ws.reset()
        return made, await ws.exec(count)

    (made, after), _ = in_workspace(aio, sandbox_pool, go)
    assert made.output.split() == ["True", "True", "True", "True", "3", "1"], made.output
    assert after.output.split() == ["0", "0"]


def test_reset_seeds_files_with_modes_as_the_agent(aio, sandbox_pool):
    files = [
        {"path": "bin/run.sh", "content": "#!/bin/sh\necho ran\n", "mode": "0755"},
        {"path": "/workspace/data/in.csv", "content": "a,b\n", "mode": None},
        {"path": "notes.txt", "content": "n\n"},
    ]

    async def go(ws):
        await ws.reset(files)
        return await ws.exec("stat -c '%a %u %n' bin/run.sh data/in.csv notes.txt; ./bin/run.sh")

    r, _ = in_workspace(aio, sandbox_pool, go, files=None)
    assert r.output.splitlines() == ["755 1000 bin/run.sh", "644 1000 data/in.csv", "644 1000 notes.txt", "ran"]


@pytest.mark.parametrize(
    "files,expected",
    [
        ([{"path": "../x", "content": ""}], "outside /workspace"),
        ([{"path": "/etc/x", "content": ""}], "outside /workspace"),
        ([{"path": "a", "content": "", "mode": "999"}], "mode must be an octal string"),
        ([{"path": "a", "content": "", "mode": "4755"}], "setuid"),
        ([{"path": "a", "content": "", "mode": "rwx"}], "mode must be an octal string"),
        ([{"path": "a\x00", "content": ""}], "NUL byte"),
    ],
)
def test_reset_rejects_bad_seed_files(aio, sandbox_pool, files, expected):
    async def go(ws):
        with pytest.raises(SandboxError) as e:
            await ws.reset(files)
        await ws.reset({"ok.txt": "ok"})
        return str(e.value), await ws.exec("cat ok.txt")

    (message, ok), _ = in_workspace(aio, sandbox_pool, go, files=None)
    assert expected in message
    assert ok.output == "ok"


# ----------------------------------------------------------------------------- symlink swaps


RACER = r"""
import ctypes, os, time
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
swaps, end = 0, time.time() + 60
while time.time() < end and not os.path.exists("stop"):
    if libc.renameat2(AT_FDCWD, b"d", AT_FDCWD, b"s", RENAME_EXCHANGE) == 0:
        swaps += 1
open("/tmp/swaps", "w").write(str(swaps))
"""


def test_swapping_a_directory_for_a_symlink_never_leads_outside(aio, sandbox_pool):
    async def go(ws):
        await run_tool(ws, "write", {"path": "racer.py", "content": RACER})
        await ws.exec("mkdir -p /tmp/outside d && echo OUTSIDE > /tmp/outside/f && echo INSIDE > d/f && "
                      "ln -s /tmp/outside s && (python3 racer.py > /dev/null 2>&1 &)")
        reads, writes = [], []
        for i in range(150):
            reads.append(await run_tool(ws, "read", {"path": "d/f"}))
            writes.append(await run_tool(ws, "write", {"path": f"d/w{i}", "content": "x"}))
        await run_tool(ws, "write", {"path": "stop", "content": ""})
        await asyncio.sleep(0.5)
        return reads, writes, await ws.exec("ls /tmp/outside; cat /tmp/swaps")

    (reads, writes, outside), same = in_workspace(aio, sandbox_pool, go)
    contents = [r.content for r in reads]
    assert not any("OUTSIDE" in c for c in contents)
    *names, swaps = outside.output.split()
    assert names == ["f"]  # no write landed in /tmp/outside
    assert int(swaps) > 100
    # The race really happened: some calls met the directory, some met the link (and refused it).
    assert "INSIDE\n" in contents and any("outside /workspace" in c for c in contents + [w.content for w in writes])
    assert same


# ----------------------------------------------------------------------------- snapshot


def test_snapshot_lists_files_sorted_with_sizes_and_hashes(aio, sandbox_pool):
    files = {"b.txt": "hello\n", "sub/c.txt": "x", ".git/config": "[core]\n"}

    async def go(ws):
        await ws.reset(files)
        await ws.exec("ln -s b.txt link; mkfifo pipe; printf z > $'caf\\xe9'")
        return await ws.snapshot(), await ws.snapshot(max_files=2), await ws.snapshot(paths=["b.txt", "missing", "sub"])

    (full, cut, chosen), _ = in_workspace(aio, sandbox_pool, go, files=None)
    entries, truncated = full
    sha = lambda b: hashlib.sha256(b).hexdigest()  # noqa: E731
    assert not truncated
    assert entries == [
        {"path": ".git/config", "size": 7, "sha256": sha(b"[core]\n")},
        {"path": "b.txt", "size": 6, "sha256": sha(b"hello\n")},
        {"path": "caf\\xe9", "size": 1, "sha256": sha(b"z")},
        {"path": "link", "size": 5, "sha256": sha(b"b.txt")},  # the link's target text
        {"path": "sub/c.txt", "size": 1, "sha256": sha(b"x")},
    ]
    assert cut == (entries[:2], True)
    assert chosen == ([entries[1], entries[4]], False)


def test_snapshot_stops_at_its_hashing_budget(aio, sandbox_image):
    from ise_trace.config import SandboxConfig
    from ise_trace.execute import Workspace
    from ise_trace.execute.workspace import owner_labels

    # More than the 256 MiB budget needs a workspace larger than the default one.
    config = SandboxConfig(workspace_size="400m")

    async def go():
        ws = Workspace(f"ise-trace-pytest-budget-{uuid.uuid4().hex[:6]}", sandbox_image, config,
                       owner_labels(config, "pytest-budget"))
        await ws.start()
        try:
            await ws.reset({"a.txt": "a"})
            made = await ws.exec("head -c 140M /dev/zero > big1.bin && head -c 140M /dev/zero > big2.bin")
            t = time.perf_counter()
            return made, await ws.snapshot(), time.perf_counter() - t
        finally:
            await ws.close()

    made, (entries, truncated), elapsed = aio.run(go())
    assert made.exit_code == 0, made.output
    assert truncated and [e["path"] for e in entries] == ["a.txt", "big1.bin"]
    assert entries[1]["size"] == 140 << 20
    assert elapsed < 10

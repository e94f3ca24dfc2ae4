#!/usr/bin/env python3
"""The workspace daemon: the one long-lived process inside each sandbox container.

The host drives it over the container's stdin/stdout, one JSON request per line and one JSON
reply per line. Keeping this process alive between commands is what makes a command cost a few
milliseconds instead of a `docker exec` (tens to hundreds of ms).

Each `exec` runs `bash -c` in a new session, so a timeout kills the command's whole process group
and never the workspace. File tools (read/write/edit/list/glob/grep) are done here directly,
confined to /workspace after resolving symlinks. `reset` returns the workspace to its template:
every other process is killed, /workspace, /tmp, /dev/shm and the home folder are emptied, and
the template files are restored.

Standard library only: it runs on the image's Debian python3.
"""

import fnmatch
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time

WORKSPACE = "/workspace"
TEMPLATE = "/opt/ise/template"
HOME = os.environ.get("HOME", "/home/agent")
SCRATCH_DIRS = ("/tmp", "/dev/shm", HOME)
BASE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": HOME,
    "USER": "agent",
    "LOGNAME": "agent",
    "SHELL": "/bin/bash",
    "LANG": "C.UTF-8",
    "TERM": "dumb",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PIP_NO_INPUT": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "PAGER": "cat",
}
# After a command's main process exits, processes it put in the background may still hold the
# output pipe open (a shell would wait for them). Wait this long, then kill the process group and
# say so: the agent learns to redirect background output (`cmd > log 2>&1 &`).
HOLDER_GRACE_S = 2.0
SKIP_DIRS = {".git", "node_modules", "__pycache__", ".venv"}


class ToolFailure(Exception):
    """A tool-level error reported to the agent as text (exit code 1)."""


# ----------------------------------------------------------------------------- output capture


class CappedBuffer:
    """Keeps the first and last `limit/2` bytes of a stream and counts what it dropped."""

    def __init__(self, limit):
        self.half = max(limit // 2, 1)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, chunk):
        self.total += len(chunk)
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > self.half:
                del self.tail[: len(self.tail) - self.half]

    @property
    def truncated(self):
        return self.total > len(self.head) + len(self.tail)

    def text(self):
        head = self.head.decode("utf-8", errors="replace")
        tail = self.tail.decode("utf-8", errors="replace")
        if not self.truncated:
            return head + tail
        dropped = self.total - len(self.head) - len(self.tail)
        return f"{head}\n[... {dropped} bytes of output truncated ...]\n{tail}"


# ----------------------------------------------------------------------------- paths


def resolve(path, must_exist=False):
    """Map an agent path to a real path inside /workspace, or fail with a clear message."""
    if not isinstance(path, str) or not path:
        raise ToolFailure("path must be a non-empty string")
    full = path if os.path.isabs(path) else os.path.join(WORKSPACE, path)
    real = os.path.realpath(full)
    if real != WORKSPACE and not real.startswith(WORKSPACE + "/"):
        raise ToolFailure(f"path '{path}' is outside {WORKSPACE}; use a path inside {WORKSPACE}")
    if must_exist and not os.path.exists(real):
        raise ToolFailure(f"no such file or directory: {path}")
    return real


def rel(real):
    r = os.path.relpath(real, WORKSPACE)
    return "." if r == "." else r


# ----------------------------------------------------------------------------- operations


def _prefer_for_oom(pid):
    # Make commands, not the daemon, the first choice of the OOM killer. Done from here rather
    # than in a preexec hook: a Python hook in the child costs a full fork of the daemon.
    try:
        with open(f"/proc/{pid}/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass


def _kill_group(pgid):
    for _ in range(20):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            return
        except PermissionError:
            return
        time.sleep(0.005)


def op_exec(req):
    command = req.get("command")
    if not isinstance(command, str) or not command.strip():
        raise ToolFailure("command must be a non-empty string")
    timeout = float(req.get("timeout_s") or 30)
    limit = int(req.get("limit") or 65536)
    cwd = resolve(req["workdir"], must_exist=True) if req.get("workdir") else WORKSPACE
    if not os.path.isdir(cwd):
        raise ToolFailure(f"workdir is not a directory: {req.get('workdir')}")
    out = CappedBuffer(limit)
    start = time.monotonic()
    proc, note = _spawn(command, cwd)
    fd = proc.stdout.fileno()
    deadline = start + timeout
    timed_out = holders = False
    exited_at = None
    while True:
        now = time.monotonic()
        if now >= deadline:
            timed_out = proc.poll() is None
            holders = not timed_out
            break
        if exited_at is None and proc.poll() is not None:
            exited_at = now
        if exited_at is not None and now - exited_at >= HOLDER_GRACE_S:
            holders = True
            break
        wait = min(deadline - now, 0.02 if exited_at is None else 0.05)
        ready, _, _ = select.select([fd], [], [], wait)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:  # every writer closed: the command and its children are done
                break
            out.add(chunk)
    if timed_out or holders:
        _kill_group(proc.pid)
    proc.stdout.close()
    try:
        code = proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        code = proc.wait()
    if code < 0:
        code = 128 - code  # report signals the way a shell does: 128 + signal number
    text = note + out.text()
    if timed_out:
        text += f"\n[command timed out after {timeout:g}s and was killed]"
        code = 124
    elif holders:
        text += (
            "\n[the command exited, but processes it left in the background kept its output open; "
            "they were killed. Redirect background output to a file (cmd > log 2>&1 &) to keep them running]"
        )
    return {
        "output": text,
        "exit_code": code,
        "truncated": out.truncated,
        "timed_out": timed_out,
        "is_error": code != 0 or holders,
    }


def _spawn(command, cwd):
    """Start the command; if the process limit is exhausted, clear the workspace's processes once."""
    note = ""
    for attempt in range(2):
        try:
            proc = subprocess.Popen(
                ["/bin/bash", "-c", command],
                cwd=cwd,
                env=BASE_ENV,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
            _prefer_for_oom(proc.pid)
            return proc, note
        except OSError as e:
            if attempt == 1:
                raise ToolFailure(f"could not start the command: {e.strerror or e}")
            _kill_all_others()
            note = "[the workspace had reached its process limit; all background processes were killed]\n"
    raise AssertionError("unreachable")


def _read_text(real):
    with open(real, "rb") as f:
        data = f.read()
    if b"\x00" in data[:8192]:
        raise ToolFailure(f"{rel(real)} is a binary file; inspect it with exec (e.g. 'file', 'xxd')")
    return data.decode("utf-8", errors="replace")


def op_read(req):
    real = resolve(req.get("path"), must_exist=True)
    if os.path.isdir(real):
        raise ToolFailure(f"{req['path']} is a directory; use list to see its entries")
    offset = max(int(req.get("offset") or 1), 1)
    limit = int(req.get("limit") or 2000)
    lines = _read_text(real).splitlines(keepends=True)
    chosen = lines[offset - 1 : offset - 1 + limit]
    cap = CappedBuffer(int(req.get("cap") or 65536))
    cap.add("".join(chosen).encode("utf-8"))
    text = cap.text()
    more = len(lines) - (offset - 1 + len(chosen))
    if more > 0:
        text += f"\n[{more} more lines; read with offset={offset + len(chosen)}]"
    return {"output": text, "exit_code": 0, "truncated": cap.truncated or more > 0}


def op_write(req):
    content = req.get("content")
    if not isinstance(content, str):
        raise ToolFailure("content must be a string")
    real = resolve(req.get("path"))
    if os.path.isdir(real):
        raise ToolFailure(f"{req['path']} is a directory")
    os.makedirs(os.path.dirname(real), exist_ok=True)
    with open(real, "w", encoding="utf-8") as f:
        f.write(content)
    return {"output": f"wrote {len(content.encode('utf-8'))} bytes to {rel(real)}", "exit_code": 0}


def op_edit(req):
    old, new = req.get("old_text"), req.get("new_text")
    if not isinstance(old, str) or not old:
        raise ToolFailure("old_text must be a non-empty string")
    if not isinstance(new, str):
        raise ToolFailure("new_text must be a string")
    real = resolve(req.get("path"), must_exist=True)
    text = _read_text(real)
    count = text.count(old)
    if count == 0:
        raise ToolFailure(f"old_text was not found in {rel(real)}; read the file and copy the text exactly")
    if count > 1:
        raise ToolFailure(f"old_text occurs {count} times in {rel(real)}; include more context so it is unique")
    with open(real, "w", encoding="utf-8") as f:
        f.write(text.replace(old, new, 1))
    return {"output": f"edited {rel(real)}", "exit_code": 0}


def _walk(root):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            yield os.path.join(dirpath, name)


def _limited(lines, cap, what):
    if len(lines) > cap:
        return "\n".join(lines[:cap]) + f"\n[{len(lines) - cap} more {what} not shown]", True
    return "\n".join(lines), False


def op_list(req):
    real = resolve(req.get("path") or ".", must_exist=True)
    if not os.path.isdir(real):
        raise ToolFailure(f"{req.get('path')} is not a directory")
    rows = []
    for name in sorted(os.listdir(real)):
        p = os.path.join(real, name)
        if os.path.isdir(p):
            rows.append(f"{name}/")
        else:
            try:
                rows.append(f"{name}  ({os.lstat(p).st_size} bytes)")
            except OSError:
                rows.append(name)
    text, truncated = _limited(rows, int(req.get("max_entries") or 500), "entries")
    return {"output": text or "(empty directory)", "exit_code": 0, "truncated": truncated}


def op_glob(req):
    pattern = req.get("pattern")
    if not isinstance(pattern, str) or not pattern:
        raise ToolFailure("pattern must be a non-empty string, e.g. '**/*.py'")
    root = resolve(req.get("path") or ".", must_exist=True)
    found = [rel(p) for p in _walk(root) if fnmatch.fnmatch(os.path.relpath(p, root), pattern)
             or fnmatch.fnmatch(os.path.basename(p), pattern)]
    text, truncated = _limited(found, int(req.get("max_entries") or 500), "matches")
    return {"output": text or "(no matches)", "exit_code": 0, "truncated": truncated}


def op_grep(req):
    pattern = req.get("pattern")
    if not isinstance(pattern, str) or not pattern:
        raise ToolFailure("pattern must be a non-empty regular expression")
    try:
        rx = re.compile(pattern, re.IGNORECASE if req.get("ignore_case") else 0)
    except re.error as e:
        raise ToolFailure(f"invalid regular expression: {e}")
    root = resolve(req.get("path") or ".", must_exist=True)
    include = req.get("include")
    files = [root] if os.path.isfile(root) else list(_walk(root))
    hits = []
    cap = int(req.get("max_matches") or 200)
    for p in files:
        if include and not fnmatch.fnmatch(os.path.basename(p), include):
            continue
        try:
            with open(p, "rb") as f:
                data = f.read(4 * 1024 * 1024)
        except OSError:
            continue
        if b"\x00" in data[:8192]:
            continue
        for n, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
            if rx.search(line):
                hits.append(f"{rel(p)}:{n}: {line[:300]}")
                if len(hits) > cap:
                    break
        if len(hits) > cap:
            break
    text, truncated = _limited(hits, cap, "matches")
    return {"output": text or "(no matches)", "exit_code": 0, "truncated": truncated}


def _empty_dir(path):
    def fix_and_retry(func, p, _exc):
        try:
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass

    try:
        names = os.listdir(path)
    except OSError:
        return
    for name in names:
        p = os.path.join(path, name)
        if os.path.isdir(p) and not os.path.islink(p):
            try:
                os.chmod(p, 0o700)
            except OSError:
                pass
            shutil.rmtree(p, onerror=fix_and_retry)
        else:
            try:
                os.unlink(p)
            except OSError:
                pass


def _kill_all_others():
    # Signal every process this user may signal except init and ourselves (Linux spares the
    # caller of kill(-1)); repeat until nothing is left, so a fork bomb cannot outrun it.
    for _ in range(50):
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            break
        time.sleep(0.002)


def op_reset(req):
    _kill_all_others()
    for d in (WORKSPACE,) + SCRATCH_DIRS:
        _empty_dir(d)
    for name in os.listdir(TEMPLATE):
        if name == ".keep":
            continue
        src = os.path.join(TEMPLATE, name)
        dst = os.path.join(WORKSPACE, name)
        if os.path.isdir(src):
            shutil.copytree(src, dst, symlinks=True)
        else:
            shutil.copy2(src, dst)
    for path, content in (req.get("files") or {}).items():
        real = resolve(path)
        os.makedirs(os.path.dirname(real), exist_ok=True)
        with open(real, "w", encoding="utf-8") as f:
            f.write(content)
    os.chdir(WORKSPACE)
    return {"output": "", "exit_code": 0}


def op_ping(_req):
    return {"output": "pong", "exit_code": 0}


OPS = {
    "exec": op_exec,
    "read": op_read,
    "write": op_write,
    "edit": op_edit,
    "list": op_list,
    "glob": op_glob,
    "grep": op_grep,
    "reset": op_reset,
    "ping": op_ping,
}


def handle(line):
    start = time.monotonic()
    try:
        req = json.loads(line)
        op = OPS[req["op"]]
    except (ValueError, KeyError, TypeError):
        return {"id": None, "error": "bad request", "exit_code": 2, "output": ""}
    try:
        reply = op(req)
        reply.setdefault("truncated", False)
        reply.setdefault("timed_out", False)
        reply.setdefault("is_error", False)
    except ToolFailure as e:
        reply = {"output": f"error: {e}", "exit_code": 1, "is_error": True, "truncated": False, "timed_out": False}
    except OSError as e:
        reply = {"output": f"error: {e.strerror or e}: {getattr(e, 'filename', '') or ''}".rstrip(": "),
                 "exit_code": 1, "is_error": True, "truncated": False, "timed_out": False}
    reply["id"] = req.get("id")
    reply["duration_ms"] = round((time.monotonic() - start) * 1000, 3)
    return reply


def main():
    os.chdir(WORKSPACE)
    out = sys.stdout
    for line in sys.stdin:  # EOF: the host went away, so the workspace ends with it
        if not line.strip():
            continue
        out.write(json.dumps(handle(line)) + "\n")
        out.flush()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The workspace daemon: the one long-lived process inside each sandbox container.

The host drives it over the container's stdin/stdout, one JSON request per line and one JSON
reply per line; each reply echoes the request's id and nonce. Keeping this process alive between
commands is what makes a command cost a few milliseconds instead of a `docker exec`.

Out of the agent's reach: the daemon runs as root with only the capabilities it needs (KILL,
SETUID, SETGID, DAC_OVERRIDE), and everything the agent asks for runs as the agent (uid 1000):
- `exec` runs `bash -c` as the agent in a new session, so a timeout kills the command's whole
  process group and never the workspace. The agent cannot signal, stop or ptrace a root process,
  nor open /proc/<daemon>/fd, so it cannot kill the daemon or write a reply in its name.
- File tools (read/write/edit/list/glob/snapshot) run with the agent's file identity
  (fsuid/fsgid 1000, which also switches off DAC_OVERRIDE), so they have exactly the agent's
  permissions and what they create is the agent's. grep runs in a forked child dropped to the
  agent's uid under a deadline, because a pattern such as (a+)+$ may never finish. Named pipes
  are opened non-blocking and refused; walks are iterative and bounded in depth and time.
  Paths are walked one component at a time from a /workspace directory fd with O_NOFOLLOW, so
  swapping a directory for a symlink cannot redirect an access out of /workspace.
- `reset` returns the workspace to its template: every other process is killed, /workspace,
  /tmp, /dev/shm, /dev/mqueue and the home folder are emptied, System V IPC objects are removed,
  and the template plus the episode's files are written as the agent.

Standard library only: it runs on the image's Debian python3.
"""

import contextlib
import ctypes
import errno
import fnmatch
import hashlib
import json
import math
import os
import re
import select
import shutil
import signal
import stat
import subprocess
import sys
import time
import traceback

WORKSPACE = "/workspace"
TEMPLATE = "/opt/ise/template"
AGENT_UID = AGENT_GID = 1000
HOME = "/home/agent"
SCRATCH_DIRS = ("/tmp", "/dev/shm", "/dev/mqueue", HOME)
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
# File tools are killed after this long: a regular expression can take exponential time.
FILE_OP_DEADLINE_S = 5.0
SNAPSHOT_DEADLINE_S = 20.0
# Walks stop this deep (a tree can be thousands of levels deep) and report that they did.
MAX_WALK_DEPTH = 128
MAX_SYMLINKS = 40
# The default /workspace size: a snapshot of a full default workspace is complete (~0.5 s of
# hashing), so callers that add up sizes see the whole workspace.
SNAPSHOT_HASH_BUDGET = 256 * 1024 * 1024
# Deeper than this, the reset moves a directory up to the top before removing it, so the
# number of open directory fds stays bounded however deep the agent nested its folders.
MAX_REMOVE_DEPTH = 64
PR_SET_DUMPABLE = 4
IPC_RMID = 0

# Root drops to the agent for everything the agent asks; run as the agent already (an old
# container or a local test), there is nothing to drop.
AS_ROOT = os.geteuid() == 0
AS_AGENT = {"user": AGENT_UID, "group": AGENT_GID, "extra_groups": []} if AS_ROOT else {}

try:
    LIBC = ctypes.CDLL(None, use_errno=True)
except OSError:  # never expected on Debian; the checks that use it then degrade, not fail
    LIBC = None


class ToolFailure(Exception):
    """A tool-level error reported to the agent as text (exit code 1)."""


# ----------------------------------------------------------------------------- text hygiene


def check_text(field, value, path_like=False):
    """Reject strings no file name, command or file can hold: NUL bytes (in paths and commands)
    and lone surrogates (JSON can carry '\\ud800'; UTF-8 cannot)."""
    if not isinstance(value, str):
        raise ToolFailure(f"{field} must be a string")
    if path_like and "\x00" in value:
        raise ToolFailure(f"{field} contains a NUL byte (\\x00), which no path or command can hold")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ToolFailure(
            f"{field} contains an invalid Unicode code point U+{ord(value[e.start]):04X} (a lone surrogate) "
            f"at position {e.start}; send valid UTF-8 text"
        ) from None
    return value


def clean(text):
    """A string that is valid UTF-8 whatever bytes it came from."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def show(name):
    """A file name as the agent sees it: undecodable bytes as \\xNN escapes (b'caf\\xe9')."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _clean_reply(value):
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, list):
        return [_clean_reply(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean_reply(v) for k, v in value.items()}
    return value


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


# ----------------------------------------------------------------------------- running as the agent


def become_agent():
    """Drop for good to the agent's uid/gid, with no supplementary groups and no capabilities."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # never hold the daemon's reply channel in a process the agent can signal
        os.dup2(devnull, fd)
    if AS_ROOT:
        os.setgroups([])
        os.setresgid(AGENT_GID, AGENT_GID, AGENT_GID)
        os.setresuid(AGENT_UID, AGENT_UID, AGENT_UID)
    if LIBC is not None:
        # Not dumpable: the agent can neither ptrace this child nor open its /proc/<pid>/fd,
        # even on hosts whose fs.suid_dumpable would leave it dumpable after the uid change.
        LIBC.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    os.umask(0o022)
    os.chdir(WORKSPACE)


class AgentFiles:
    """Within it, the daemon's file access is checked as the agent's: fsuid/fsgid 1000.

    The kernel drops DAC_OVERRIDE from the effective set while fsuid is not 0, and files created
    meanwhile belong to the agent; real and saved uid stay 0, so the agent still cannot signal or
    trace the daemon. Cheaper than a forked child (no fork per file tool), for the tools whose
    work is bounded by the data they touch; grep, whose pattern may never finish, forks."""

    def __enter__(self):
        if AS_ROOT:
            LIBC.setfsgid(AGENT_GID)
            LIBC.setfsuid(AGENT_UID)
            # setfsuid reports no error; an invalid id changes nothing and returns the current one.
            if LIBC.setfsuid(-1) != AGENT_UID or LIBC.setfsgid(-1) != AGENT_GID:
                self.__exit__()
                raise ToolFailure("the workspace could not take on the agent's file permissions")
        return self

    def __exit__(self, *exc):
        if AS_ROOT:
            LIBC.setfsuid(0)
            LIBC.setfsgid(0)


def as_agent_files(fn, req):
    with AgentFiles():
        return run_guarded(fn, req)


def as_agent(fn, req, deadline_s, what):
    """Run `fn(req)` in a forked child with the agent's permissions; its reply, or an error reply
    if it fails, crashes or is still running at the deadline (it is then killed)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the daemon's loop
        code = 0
        try:
            os.close(r)
            become_agent()
            reply = run_guarded(fn, req)
            data = json.dumps(_clean_reply(reply)).encode()
            view = memoryview(data)
            while view:
                view = view[os.write(w, view):]
        except BaseException:  # noqa: BLE001 - the child must end here whatever happened
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    chunks, timed_out = [], False
    deadline = time.monotonic() + deadline_s
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([r], [], [], left)
            if ready:
                chunk = os.read(r, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(r)
        if timed_out:
            _signal(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    if timed_out:
        raise ToolFailure(f"{what} did not finish within {deadline_s:g}s and was stopped")
    try:
        return json.loads(b"".join(chunks))
    except ValueError:
        raise ToolFailure(f"{what} failed unexpectedly (status {status})") from None


def run_guarded(fn, req):
    """`fn(req)` with every failure turned into the error reply the agent reads."""
    try:
        reply = fn(req)
    except ToolFailure as e:
        reply = error_reply(f"error: {e}")
    except OSError as e:
        reply = error_reply(_os_error_text(e))
    except (ValueError, RecursionError, MemoryError) as e:
        reply = error_reply(f"error: {type(e).__name__}: {e}")
    for key in ("truncated", "timed_out", "is_error"):
        reply.setdefault(key, False)
    return reply


def error_reply(text):
    return {"output": text, "exit_code": 1, "is_error": True, "truncated": False, "timed_out": False}


def _os_error_text(e):
    name = getattr(e, "filename", None)
    where = f": {show(name) if isinstance(name, str) else name}" if name not in (None, "") else ""
    return f"error: {e.strerror or e}{where}"


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


# ----------------------------------------------------------------------------- paths (as the agent)


class Resolved:
    """An open fd reached from /workspace, and the path (below /workspace) it was reached by."""

    def __init__(self, fd, parts):
        self.fd = fd
        self.parts = parts

    @property
    def rel(self):
        return "/".join(show(p) for p in self.parts) or "."

    def close(self):
        os.close(self.fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _outside(path):
    return ToolFailure(f"path '{path}' is outside {WORKSPACE}; use a path inside {WORKSPACE}")


def _split(path, agent_path):
    """Components of `path` below /workspace (absolute paths must start with /workspace)."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if path.startswith("/"):
        root = [p for p in WORKSPACE.split("/") if p]
        if parts[: len(root)] != root:
            raise _outside(agent_path)
        parts = parts[len(root):]
    return parts


def open_beneath(path, flags=os.O_RDONLY, mode=0o666, parents=False, follow=True):
    """Open `path` without ever leaving /workspace, however its components change meanwhile.

    Each component is opened with O_NOFOLLOW relative to the fd of the directory before it. A
    symlink is read (readlinkat) and its target resolved by the same rules, so links inside the
    workspace work; `..` pops a directory and cannot climb above /workspace. The checks and the
    opens are the same system calls, so there is nothing to race. `parents` creates missing
    directories (for write); `follow=False` (with O_PATH) returns a final symlink itself."""
    check_text("path", path, path_like=True)
    if not path:
        raise ToolFailure("path must be a non-empty string")
    todo = _split(path, path)
    fds = [os.open(WORKSPACE, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)]
    names = []
    links = 0
    try:
        while True:
            if not todo:  # the path names a directory we already hold
                try:
                    fd = os.open(".", flags | os.O_CLOEXEC, dir_fd=fds[-1])
                except OSError as e:
                    raise _path_error(e, path) from None
                return Resolved(fd, list(names))
            name = todo.pop(0)
            if name == "..":
                if len(fds) == 1:
                    raise _outside(path)
                os.close(fds.pop())
                names.pop()
                continue
            last = not todo
            try:
                if last:
                    fd = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=fds[-1])
                    if not follow or not stat.S_ISLNK(os.fstat(fd).st_mode):  # O_PATH opens links
                        return Resolved(fd, names + [name])
                    os.close(fd)
                    raise OSError(errno.ELOOP, "symbolic link")
                fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fds[-1])
            except OSError as e:
                if e.errno == errno.ENOENT and parents and not last:
                    _mkdir_at(name, fds[-1])
                    todo.insert(0, name)
                    continue
                if e.errno != errno.ELOOP:
                    raise _path_error(e, path) from None
                fd = None  # the last component is a symlink: resolve it below
            if fd is not None:
                kind = stat.S_IFMT(os.fstat(fd).st_mode)
                if kind == stat.S_IFDIR:
                    fds.append(fd)
                    names.append(name)
                    continue
                if kind != stat.S_IFLNK:
                    os.close(fd)
                    raise ToolFailure(f"not a directory: {'/'.join(names + [name])} (in '{path}')")
                os.close(fd)
            links += 1
            if links > MAX_SYMLINKS:
                raise ToolFailure(f"too many levels of symbolic links in '{path}'")
            try:
                target = os.readlink(name, dir_fd=fds[-1])
            except OSError as e:
                if e.errno == errno.EINVAL:  # swapped back to a non-link meanwhile: look again
                    todo.insert(0, name)
                    continue
                raise _path_error(e, path) from None
            if target.startswith("/"):
                while len(fds) > 1:
                    os.close(fds.pop())
                names.clear()
            todo[:0] = _split(target, path)
    finally:
        for fd in fds:
            os.close(fd)


def _mkdir_at(name, dir_fd):
    try:
        os.mkdir(name, 0o777, dir_fd=dir_fd)
    except FileExistsError:
        pass


def _path_error(e, path):
    if e.errno == errno.ENOENT:
        return ToolFailure(f"no such file or directory: {path}")
    if e.errno == errno.EACCES:
        return ToolFailure(f"permission denied: {path}")
    if e.errno == errno.ENOTDIR:
        return ToolFailure(f"not a directory: {path}")
    if e.errno == errno.EISDIR:
        return ToolFailure(f"{path} is a directory")
    if e.errno == errno.ENXIO:
        return ToolFailure(f"{path} is not a regular file (a named pipe or socket); use exec for it")
    if e.errno == errno.ENAMETOOLONG:
        return ToolFailure(f"file name too long: {path}")
    return ToolFailure(f"{e.strerror}: {path}")


def open_file(path, flags, what="read", parents=False):
    """A regular file, opened without blocking: a named pipe is an error, not a hang."""
    res = open_beneath(path, flags | os.O_NONBLOCK, parents=parents)
    st = os.fstat(res.fd)
    if stat.S_ISDIR(st.st_mode):
        res.close()
        hint = "; use list to see its entries" if what == "read" else ""
        raise ToolFailure(f"{path} is a directory{hint}")
    if not stat.S_ISREG(st.st_mode):
        res.close()
        raise ToolFailure(f"{path} is not a regular file (a named pipe, socket or device); use exec for it")
    return res


def read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _decode_text(data, rel):
    if b"\x00" in data[:8192]:
        raise ToolFailure(f"{rel} is a binary file; inspect it with exec (e.g. 'file', 'xxd')")
    return data.decode("utf-8", errors="replace")


# ----------------------------------------------------------------------------- walking trees


class Walk:
    """Everything under an open directory, depth first in sorted order, iteratively (a tree can be
    thousands of levels deep), never following a symlink and never deeper than MAX_WALK_DEPTH.
    Iterating yields (parts, entry, dir_fd): the entry's parent path below /workspace, its
    DirEntry, and an fd of its parent valid until the next item. `notes` says what was skipped."""

    def __init__(self, root, soft_deadline, skip=SKIP_DIRS):
        self.root = root
        self.soft_deadline = soft_deadline
        self.skip = skip
        self.notes = set()

    def __iter__(self):
        stack = [(os.dup(self.root.fd), list(self.root.parts), 0)]
        current = None
        try:
            while stack:
                current, parts, depth = stack.pop()
                for item in self._entries(current, parts, depth, stack):
                    yield item
                    if time.monotonic() > self.soft_deadline:
                        self.notes.add("[the search stopped early (time limit); narrow the path]")
                        return
                os.close(current)
                current = None
        finally:
            if current is not None:
                os.close(current)
            for dfd, _, _ in stack:
                os.close(dfd)

    def _entries(self, dfd, parts, depth, stack):
        try:
            with os.scandir(dfd) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            self.notes.add("[some directories could not be read and were skipped]")
            return
        subdirs = []
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if entry.name in self.skip:
                    continue
                if depth + 1 >= MAX_WALK_DEPTH:
                    self.notes.add(f"[directories deeper than {MAX_WALK_DEPTH} levels were not searched]")
                    continue
                subdirs.append(entry.name)
            yield parts, entry, dfd
        for name in reversed(subdirs):  # reversed: the stack pops them in sorted order
            try:
                sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
            except OSError:
                self.notes.add("[some directories could not be read and were skipped]")
                continue
            stack.append((sub, parts + [name], depth + 1))


def _rel(parts, name=None):
    return "/".join(show(p) for p in (parts + [name] if name is not None else parts)) or "."


def _limited(lines, cap, what):
    if len(lines) > cap:
        return "\n".join(lines[:cap]) + f"\n[{len(lines) - cap} more {what} not shown]", True
    return "\n".join(lines), False


def _with_notes(text, walk):
    return "\n".join([text, *sorted(walk.notes)]) if walk.notes else text


# ----------------------------------------------------------------------------- file tools


def op_read(req):
    path = req.get("path")
    offset = max(int(req.get("offset") or 1), 1)
    limit = int(req.get("limit") or 2000)
    with open_file(path, os.O_RDONLY) as f:
        text = _decode_text(read_all(f.fd), f.rel)
    lines = text.splitlines(keepends=True)
    chosen = lines[offset - 1 : offset - 1 + limit]
    cap = CappedBuffer(int(req.get("cap") or 65536))
    cap.add("".join(chosen).encode("utf-8"))
    text = cap.text()
    more = len(lines) - (offset - 1 + len(chosen))
    if more > 0:
        text += f"\n[{more} more lines; read with offset={offset + len(chosen)}]"
    return {"output": text, "exit_code": 0, "truncated": cap.truncated or more > 0}


def op_write(req):
    content = check_text("content", req.get("content"))
    data = content.encode("utf-8")
    with open_file(req.get("path"), os.O_WRONLY | os.O_CREAT, what="write", parents=True) as f:
        os.ftruncate(f.fd, 0)  # only now: truncating before the regular-file check could hit a pipe
        write_all(f.fd, data)
        rel = f.rel
    return {"output": f"wrote {len(data)} bytes to {rel}", "exit_code": 0}


def op_edit(req):
    old, new = req.get("old_text"), req.get("new_text")
    if not isinstance(old, str) or not old:
        raise ToolFailure("old_text must be a non-empty string")
    check_text("old_text", old)
    check_text("new_text", new)
    with open_file(req.get("path"), os.O_RDWR, what="edit") as f:
        text = _decode_text(read_all(f.fd), f.rel)
        count = text.count(old)
        if count == 0:
            raise ToolFailure(f"old_text was not found in {f.rel}; read the file and copy the text exactly")
        if count > 1:
            raise ToolFailure(f"old_text occurs {count} times in {f.rel}; include more context so it is unique")
        os.lseek(f.fd, 0, os.SEEK_SET)
        os.ftruncate(f.fd, 0)
        write_all(f.fd, text.replace(old, new, 1).encode("utf-8"))
        return {"output": f"edited {f.rel}", "exit_code": 0}


def _open_dir(path):
    res = open_beneath(path or ".", os.O_RDONLY | os.O_NONBLOCK)
    if not stat.S_ISDIR(os.fstat(res.fd).st_mode):
        res.close()
        raise ToolFailure(f"{path} is not a directory")
    return res


def op_list(req):
    rows = []
    with _open_dir(req.get("path")) as d, os.scandir(d.fd) as it:
        for entry in sorted(it, key=lambda e: e.name):
            name = show(entry.name)
            try:
                if entry.is_dir(follow_symlinks=False):
                    rows.append(f"{name}/")
                elif entry.is_symlink():
                    rows.append(f"{name} -> {show(os.readlink(entry.name, dir_fd=d.fd))}")
                elif entry.is_file(follow_symlinks=False):
                    rows.append(f"{name}  ({entry.stat(follow_symlinks=False).st_size} bytes)")
                else:
                    rows.append(f"{name}  ({_kind(entry.stat(follow_symlinks=False).st_mode)})")
            except OSError:
                rows.append(name)
    text, truncated = _limited(rows, int(req.get("max_entries") or 500), "entries")
    return {"output": text or "(empty directory)", "exit_code": 0, "truncated": truncated}


def _kind(mode):
    if stat.S_ISFIFO(mode):
        return "named pipe"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "device"


def op_glob(req):
    pattern = req.get("pattern")
    if not isinstance(pattern, str) or not pattern:
        raise ToolFailure("pattern must be a non-empty string, e.g. '**/*.py'")
    check_text("pattern", pattern)
    # '**/' also matches no folder at all, as in shells with globstar: '**/*.py' finds ./app.py.
    patterns = [pattern, pattern[3:]] if pattern.startswith("**/") and len(pattern) > 3 else [pattern]
    soft = time.monotonic() + FILE_OP_DEADLINE_S * 0.8
    found = []
    with _open_dir(req.get("path")) as root:
        base = len(root.parts)
        walk = Walk(root, soft)
        for parts, entry, _ in walk:
            if entry.is_dir(follow_symlinks=False):
                continue
            under_root = "/".join(show(p) for p in parts[base:] + [entry.name])
            name = show(entry.name)
            if any(fnmatch.fnmatch(under_root, p) or fnmatch.fnmatch(name, p) for p in patterns):
                found.append(_rel(parts, entry.name))
    text, truncated = _limited(found, int(req.get("max_entries") or 500), "matches")
    return {"output": _with_notes(text or "(no matches)", walk), "exit_code": 0, "truncated": truncated}


def _grep_data(rx, rel, data, hits, cap):
    if b"\x00" in data[:8192]:
        return
    for n, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        if rx.search(line):
            hits.append(f"{rel}:{n}: {line[:300]}")
            if len(hits) > cap:
                return


def op_grep(req):
    pattern = req.get("pattern")
    if not isinstance(pattern, str) or not pattern:
        raise ToolFailure("pattern must be a non-empty regular expression")
    check_text("pattern", pattern)
    try:
        rx = re.compile(pattern, re.IGNORECASE if req.get("ignore_case") else 0)
    except re.error as e:
        raise ToolFailure(f"invalid regular expression: {e}") from None
    include = req.get("include")
    if include is not None:
        check_text("include", include)
    cap = int(req.get("max_matches") or 200)
    soft = time.monotonic() + FILE_OP_DEADLINE_S * 0.8
    hits = []
    walk = None
    with open_beneath(req.get("path") or ".", os.O_RDONLY | os.O_NONBLOCK) as root:
        st = os.fstat(root.fd)
        if stat.S_ISREG(st.st_mode):
            _grep_data(rx, root.rel, os.read(root.fd, 4 << 20), hits, cap)
        elif not stat.S_ISDIR(st.st_mode):
            raise ToolFailure(f"{req.get('path')} is not a regular file (a named pipe, socket or device)")
        else:
            walk = Walk(root, soft)
            for parts, entry, dfd in walk:
                if len(hits) > cap:
                    break
                if not entry.is_file(follow_symlinks=False):
                    continue  # links are not followed; pipes and devices are not regular files
                if include and not fnmatch.fnmatch(show(entry.name), include):
                    continue
                try:
                    fd = os.open(entry.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dfd)
                except OSError:
                    continue
                try:
                    if stat.S_ISREG(os.fstat(fd).st_mode):
                        _grep_data(rx, _rel(parts, entry.name), os.read(fd, 4 << 20), hits, cap)
                finally:
                    os.close(fd)
    text, truncated = _limited(hits, cap, "matches")
    text = _with_notes(text or "(no matches)", walk) if walk else text or "(no matches)"
    return {"output": text, "exit_code": 0, "truncated": truncated}


# ----------------------------------------------------------------------------- snapshot


class OverBudget(Exception):
    """Hashing the next file would pass the snapshot's byte budget."""


def _hash_fd(fd, budget):
    h = hashlib.sha256()
    size = 0
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return h.hexdigest(), size
        size += len(chunk)
        if size > budget:
            raise OverBudget()
        h.update(chunk)


def _snapshot_entry(rel, name, dir_fd, budget):
    """The entry for one regular file or symlink (None for anything else), and the bytes hashed."""
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    if stat.S_ISLNK(st.st_mode):
        target = os.fsencode(os.readlink(name, dir_fd=dir_fd))
        return {"path": rel, "size": len(target), "sha256": hashlib.sha256(target).hexdigest()}, 0
    if not stat.S_ISREG(st.st_mode):
        return None, 0
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        digest, size = _hash_fd(fd, budget)
    finally:
        os.close(fd)
    return {"path": rel, "size": size, "sha256": digest}, size


def op_snapshot(req):
    """Path, size and sha256 of the regular files (and symlinks) under /workspace, sorted by path.

    Nothing is skipped (.git included) and no symlink is followed: a symlink is listed with the
    length of its target text as size and the hash of that text as sha256. At most `max_files`
    entries and SNAPSHOT_HASH_BUDGET bytes hashed; when either runs out, the rest are left out and
    `truncated` is true. With `paths`, only those (a file, or every file under a directory); a
    missing or invalid one is simply absent."""
    max_files = req.get("max_files")
    max_files = 500 if max_files is None else max(int(max_files), 0)
    soft = time.monotonic() + SNAPSHOT_DEADLINE_S * 0.8
    found = {}  # rel -> (parts of the parent directory, entry name)
    roots = req.get("paths")
    if roots is not None and not (isinstance(roots, list) and all(isinstance(p, str) for p in roots)):
        raise ToolFailure("paths must be a list of strings")
    truncated = False
    for path in (roots if roots is not None else ["."]):
        truncated |= _collect(path, found, soft)
    entries, budget = [], SNAPSHOT_HASH_BUDGET
    parents = ParentDirs()
    try:
        for rel in sorted(found):
            if len(entries) >= max_files or time.monotonic() > soft:
                truncated = True
                break
            parent, name = found[rel]
            try:
                entry, used = _snapshot_entry(rel, name, parents.fd(parent), budget)
            except OverBudget:
                truncated = True
                break
            except (OSError, ToolFailure):
                continue  # gone meanwhile
            if entry is not None:
                entries.append(entry)
                budget -= used
    finally:
        parents.close()
    return {"output": f"{len(entries)} files", "exit_code": 0, "entries": entries, "truncated": truncated}


class ParentDirs:
    """The fd of the last directory asked for: files in sorted order mostly share their parent."""

    def __init__(self):
        self.parts = None
        self.res = None

    def fd(self, parts):
        if parts != self.parts:
            self.close()
            self.res = open_beneath("/".join(parts) or ".", os.O_RDONLY | os.O_DIRECTORY)
            self.parts = parts
        return self.res.fd

    def close(self):
        if self.res is not None:
            self.res.close()
        self.res = self.parts = None


def _collect(path, found, soft):
    """Add the files under `path` to `found`; True when the walk was cut short."""
    try:
        check_text("path", path, path_like=True)
        root = open_beneath(path, os.O_PATH, follow=False)
    except (OSError, ToolFailure):
        return False
    with root:
        st = os.fstat(root.fd)
        if not stat.S_ISDIR(st.st_mode):
            if root.parts and (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                found[root.rel] = (root.parts[:-1], root.parts[-1])
            return False
    with open_beneath(path, os.O_RDONLY | os.O_DIRECTORY) as d:
        walk = Walk(d, soft, skip=())
        for parts, entry, _ in walk:
            if not entry.is_dir(follow_symlinks=False):
                found[_rel(parts, entry.name)] = (parts, entry.name)
    return bool(walk.notes)


# ----------------------------------------------------------------------------- exec


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
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.005)


def _timeout(value):
    """The command's timeout in seconds: a finite number above zero."""
    if value is None:
        return 30.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ToolFailure(f"timeout must be a finite number of seconds above 0, not {value!r}")
    return float(value)


def _workdir(req):
    workdir = req.get("workdir")
    if not workdir:
        return WORKSPACE
    check_text("workdir", workdir, path_like=True)
    full = workdir if os.path.isabs(workdir) else os.path.join(WORKSPACE, workdir)
    # The shell may cd anywhere afterwards; this check only keeps the tool's contract.
    real = os.path.realpath(full)
    if real != WORKSPACE and not real.startswith(WORKSPACE + "/"):
        raise _outside(workdir)
    if not os.path.exists(real):
        raise ToolFailure(f"no such file or directory: {workdir}")
    if not os.path.isdir(real):
        raise ToolFailure(f"workdir is not a directory: {workdir}")
    return real


def op_exec(req):
    command = req.get("command")
    if not isinstance(command, str) or not command.strip():
        raise ToolFailure("command must be a non-empty string")
    check_text("command", command, path_like=True)
    timeout = _timeout(req.get("timeout_s"))
    limit = int(req.get("limit") or 65536)
    cwd = _workdir(req)
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
    """Start the command as the agent; if the process limit is exhausted (EAGAIN, and only then),
    clear the workspace's processes once and try again."""
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
                **AS_AGENT,
            )
            _prefer_for_oom(proc.pid)
            return proc, note
        except OSError as e:
            if e.errno == errno.E2BIG:
                size = len(command.encode("utf-8"))
                raise ToolFailure(
                    f"argument list too long: the command is {size} bytes, more than the kernel accepts in one "
                    "argument (128 KiB). Write the script to a file with the write tool and run it "
                    "(e.g. bash script.sh); nothing was run and no process was touched"
                ) from None
            if e.errno != errno.EAGAIN or attempt == 1:
                raise ToolFailure(f"could not start the command: {e.strerror or e}") from None
            kill_all_others()
            note = "[the workspace had reached its process limit; all background processes were killed]\n"
    raise AssertionError("unreachable")


# ----------------------------------------------------------------------------- reset


def kill_all_others():
    # As root, kill(-1) signals every process but init and ourselves; repeat until nothing is
    # left (ESRCH), so a fork bomb cannot outrun it. Our own children are reaped as we go.
    for _ in range(200):
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            break
        _reap()
        time.sleep(0.002)
    _reap()


def _reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def empty_dir(path):
    """Remove everything inside `path` (as root: the agent's chmod 000 does not stop it).

    Iterative and fd-based: no symlink is followed and there is no recursion limit. A directory
    deeper than MAX_REMOVE_DEPTH is moved up to the top first, so open fds stay bounded however
    deep the agent nested its folders."""
    try:
        top = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return
    stack = [(top, None, _unlink_files(top))]  # (fd, name in parent, subdirectories left)
    moved = 0
    try:
        while stack:
            fd, name, subdirs = stack[-1]
            if subdirs:
                sub = subdirs.pop()
                if len(stack) > MAX_REMOVE_DEPTH:
                    moved += 1
                    with contextlib.suppress(OSError):
                        os.rename(sub, f".ise-reset-{moved}", src_dir_fd=fd, dst_dir_fd=top)
                        stack[0][2].append(f".ise-reset-{moved}")
                    continue
                with contextlib.suppress(OSError):
                    child = os.open(sub, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
                    stack.append((child, sub, _unlink_files(child)))
                continue
            stack.pop()
            if name is not None:  # emptied: remove it from its parent
                os.close(fd)
                with contextlib.suppress(OSError):
                    os.rmdir(name, dir_fd=stack[-1][0])
    finally:
        for fd, name, _ in stack:
            if name is not None:
                os.close(fd)
        os.close(top)


def _unlink_files(dfd):
    """Unlink every non-directory in `dfd`; return the names of its subdirectories."""
    subdirs = []
    try:
        with os.scandir(dfd) as it:
            entries = list(it)
    except OSError:
        return subdirs
    for entry in entries:
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False):
                subdirs.append(entry.name)
            else:
                os.unlink(entry.name, dir_fd=dfd)
    return subdirs


def remove_ipc():
    """Remove the System V shared memory, semaphores and message queues left in this IPC
    namespace (run as the agent: the owner may remove them, root without CAP_SYS_ADMIN may not)."""
    if LIBC is None:
        return
    removers = {
        "shm": lambda i: LIBC.shmctl(i, IPC_RMID, None),
        "sem": lambda i: LIBC.semctl(i, 0, IPC_RMID),
        "msg": lambda i: LIBC.msgctl(i, IPC_RMID, None),
    }
    for kind, remove in removers.items():
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                rows = f.read().splitlines()[1:]  # after the header: key, id, ...
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 1 and fields[1].isdigit():
                remove(int(fields[1]))


def _mode(value, where):
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"[0-7]{3,4}", value):
        raise ToolFailure(f"{where}: mode must be an octal string such as '0644' or '0755', not {value!r}")
    mode = int(value, 8)
    if mode & 0o6000:
        raise ToolFailure(f"{where}: mode {value} sets setuid/setgid bits, which workspaces do not allow")
    return mode


def _file_specs(files):
    """The episode's files as [(path, content, mode)], from a dict or a list of {path, content, mode}."""
    if isinstance(files, dict):
        files = [{"path": p, "content": c, "mode": None} for p, c in files.items()]
    if not isinstance(files, list):
        raise ToolFailure("files must be a list of {path, content, mode} objects or a path -> content map")
    specs = []
    for i, spec in enumerate(files):
        if not isinstance(spec, dict):
            raise ToolFailure(f"files[{i}] must be an object with path and content")
        path, content = spec.get("path"), spec.get("content")
        where = f"files[{i}] ({path!r})"
        if not isinstance(path, str) or not path:
            raise ToolFailure(f"files[{i}]: path must be a non-empty string")
        check_text(f"{where}: path", path, path_like=True)
        check_text(f"{where}: content", content)
        specs.append((path, content, _mode(spec.get("mode"), where)))
    return specs


def remove_ipc_as_agent(_req):
    remove_ipc()
    return {"output": "", "exit_code": 0}


def seed(req):
    """Copy the template and write the episode's files (inside AgentFiles: owned by the agent)."""
    for name in os.listdir(TEMPLATE):
        if name == ".keep":
            continue
        src, dst = os.path.join(TEMPLATE, name), os.path.join(WORKSPACE, name)
        if os.path.isdir(src) and not os.path.islink(src):
            shutil.copytree(src, dst, symlinks=True)
        else:
            shutil.copy2(src, dst, follow_symlinks=False)
    for i, (path, content, mode) in enumerate(_file_specs(req.get("files") or [])):
        try:
            res = open_beneath(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NONBLOCK, parents=True)
        except ToolFailure as e:
            raise ToolFailure(f"files[{i}] ({path!r}): {e}") from None
        with res:
            if not stat.S_ISREG(os.fstat(res.fd).st_mode):
                raise ToolFailure(f"files[{i}] ({path!r}): not a regular file")
            write_all(res.fd, content.encode("utf-8"))
            if mode is not None:
                os.fchmod(res.fd, mode)
    return {"output": "", "exit_code": 0}


def _ipc_objects():
    count = 0
    for kind in ("shm", "sem", "msg"):
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                count += len(f.read().splitlines()) - 1
        except OSError:
            pass
    return count


def op_reset(req):
    kill_all_others()
    for d in (WORKSPACE,) + SCRATCH_DIRS:
        empty_dir(d)
    if _ipc_objects():  # removing them takes the owner's euid, so a child; most resets have none
        as_agent(remove_ipc_as_agent, req, FILE_OP_DEADLINE_S, "removing IPC objects")
    return as_agent_files(seed, req)


def op_ping(_req):
    return {"output": "pong", "exit_code": 0}


# Said when a file tool hits its deadline, so the agent knows what to change.
DEADLINE_HINTS = {
    "grep": "a pattern with nested repetition such as (a+)+$ can take exponential time; simplify the "
            "pattern or search a narrower path",
}


def _with_agent_files(fn):
    if LIBC is None and AS_ROOT:  # no setfsuid: fall back to a child that drops its uid
        return _in_agent_child(fn)
    return lambda req: as_agent_files(fn, req)


def _in_agent_child(fn, deadline_s=FILE_OP_DEADLINE_S):
    what = fn.__name__[3:]

    def run(req):
        try:
            return as_agent(fn, req, deadline_s, what)
        except ToolFailure as e:
            hint = DEADLINE_HINTS.get(what)
            if hint and "did not finish" in str(e):
                raise ToolFailure(f"{e}: {hint}") from None
            raise

    return run


OPS = {
    "exec": op_exec,
    "read": _with_agent_files(op_read),
    "write": _with_agent_files(op_write),
    "edit": _with_agent_files(op_edit),
    "list": _with_agent_files(op_list),
    "glob": _with_agent_files(op_glob),
    "grep": _in_agent_child(op_grep),
    "snapshot": _with_agent_files(op_snapshot),
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
        reply = run_guarded(op, req)
    except Exception as e:  # noqa: BLE001 - a bug here must not take the workspace down
        traceback.print_exc(file=sys.stderr)
        reply = error_reply(f"error: the workspace daemon failed on this call ({type(e).__name__}: {e})")
    if reply.get("is_error") and reply.get("exit_code") is None:
        reply["exit_code"] = 1
    reply = _clean_reply(reply)
    reply["id"] = req.get("id")
    reply["nonce"] = req.get("nonce")
    reply["duration_ms"] = round((time.monotonic() - start) * 1000, 3)
    return reply


def main():
    if AS_ROOT:
        os.setgroups([])  # root's groups would otherwise widen what our children may touch
    os.chdir(WORKSPACE)
    out = sys.stdout
    for line in sys.stdin:  # EOF: the host went away, so the workspace ends with it
        if not line.strip():
            continue
        out.write(json.dumps(handle(line)) + "\n")
        out.flush()


if __name__ == "__main__":
    main()

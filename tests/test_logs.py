"""Diagnostics are logging records with one switch for verbosity, configured by the console script."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from ise_trace.errors import ConfigError
from ise_trace.logs import configured, level_from
from tests.simulate.scripted import make_intent

CLI = [sys.executable, "-m", "ise_trace.cli"]


def test_flags_beat_the_environment_and_the_default_is_warnings():
    assert level_from() in (logging.WARNING, level_from(env={}))
    assert level_from(env={}) == logging.WARNING
    assert level_from(env={"ISE_TRACE_LOG_LEVEL": "debug"}) == logging.DEBUG
    assert level_from(1, env={"ISE_TRACE_LOG_LEVEL": "error"}) == logging.INFO
    assert level_from(2) == logging.DEBUG
    assert level_from(0, quiet=True, env={"ISE_TRACE_LOG_LEVEL": "debug"}) == logging.ERROR
    with pytest.raises(ConfigError, match="ISE_TRACE_LOG_LEVEL=loud: not a log level"):
        level_from(env={"ISE_TRACE_LOG_LEVEL": "loud"})


def test_records_reach_the_current_stderr_and_the_loggers_are_restored(capsys):
    log = logging.getLogger("ise_trace.somewhere")
    before = logging.getLogger("ise_trace").level, list(logging.getLogger("ise_trace").handlers)
    with configured(logging.INFO):
        log.info("stage started")
        log.debug("not shown")
    log.warning("after the block: not ours to print")
    err = capsys.readouterr().err
    assert "info ise_trace.somewhere: stage started" in err and "not shown" not in err
    assert (logging.getLogger("ise_trace").level, logging.getLogger("ise_trace").handlers) == before


def test_verbose_shows_what_the_stage_does_quiet_and_default_do_not(tmp_path):
    intents = tmp_path / "intents.jsonl"
    intents.write_text(make_intent("logs-1", "List the files.").model_dump_json() + "\n")
    # Nothing listens on the discard port: the run stops at the model check, after its first log record.
    argv = ["simulate", "--intents", str(intents), "--out", str(tmp_path / "run"),
            "--agent-backend", "openai", "--agent-base-url", "http://127.0.0.1:9/v1"]

    def stderr(*flags, env=None):
        p = subprocess.run([*CLI, *flags, *argv], capture_output=True, text=True, timeout=120, env=env)
        assert p.returncode == 2, p.stderr
        return p.stderr.strip().splitlines()

    default, quiet, verbose = stderr(), stderr("--quiet"), stderr("-v")
    assert len(default) == 1 and default[0].startswith("ise-trace simulate: error: agent model at")
    assert quiet == default
    assert any("info ise_trace.orchestrate: stage S+E: 1 intents" in line for line in verbose[:-1])
    assert verbose[-1] == default[0]
    bad = stderr(env={**os.environ, "ISE_TRACE_LOG_LEVEL": "loud"})
    assert bad == ["ise-trace simulate: error: ISE_TRACE_LOG_LEVEL=loud: not a log level; "
                   "use one of debug, info, warning, error, critical"]

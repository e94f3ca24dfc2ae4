"""Corpora for the viewer tests: a run folder and the dataset folder built from it by our builder.

Besides synthetic trajectories (tests/dataset/synthetic.py, verification set to passed, failed
or none in turn) there are three hand-written ones that read like a real episode: a failed call
and its recovery, HTML in a tool output, a drift regeneration; one is verified, one is a false
success (the user said success, a check failed), one is unverified.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from ise_trace.schemas import (  # noqa: E402
    AssistantMessage,
    Check,
    CheckResult,
    DomainSpec,
    ExecutionRecord,
    FunctionCall,
    Intent,
    Outcome,
    Persona,
    Provenance,
    RendererInfo,
    SnapshotEntry,
    SystemMessage,
    TaskSpec,
    TerminationReason,
    ToolCall,
    ToolMessage,
    Trajectory,
    UserMessage,
    Verification,
    WorkspaceFile,
    WorkspaceSpec,
    compute_stats,
)
from tests.dataset.synthetic import make_trajectory  # noqa: E402

N_SYNTHETIC = 20
HTML_OUTPUT = "12:<td><b>North</b></td>\n13:<script>document.title='pwned'</script>\n14:<img src=x onerror=alert(1)>"
FALSE_SUCCESS_ID = "shipments-summary-false-success"
HANDMADE_ID = "shipments-summary-verified"
UNVERIFIED_ID = "shipments-summary-unverified"

SUMMARIZE = """import csv, sys
from collections import defaultdict

totals = defaultdict(float)
with open(sys.argv[1], newline="") as f:
    for row in csv.DictReader(f):
        totals[row["region"]] += float(row["weight_kg"])
print("| region | weight_kg |")
print("|---|---|")
for region in sorted(totals):
    print(f"| {region} | {totals[region]:.1f} |")
"""


def _call(call_id: str, name: str, **arguments) -> ToolCall:
    return ToolCall(id=call_id, function=FunctionCall(name=name, arguments=arguments))


def handmade(trajectory_id: str, passed: bool | None, status: str = "success") -> Trajectory:
    """A short, realistic episode: wc, a failed run, the script written, the rerun (the recovery)."""
    intent = Intent(
        id=f"intent-{trajectory_id}",
        text="I keep our shipments in shipments.csv; I need the total weight per region in summary.md as a table.",
        persona=Persona(
            id="p-logistics-analyst", name="Priya Raman", role="logistics analyst", industry="logistics",
            experience_level="mid-level", communication_style="terse", work_context="prepares the Monday freight report",
            expertise=["spreadsheets", "python"],
        ),
        domains=[DomainSpec(name="File-IO", tasks=[TaskSpec(name="aggregate-csv", description="group and total a CSV")]),
                 DomainSpec(name="Code-Runtime", tasks=[TaskSpec(name="run-script", description="write and run a script")])],
        complexity="medium",
        seed=7,
        renderer=RendererInfo(model="renderer-model", prompt_version="v2"),
        workspace=WorkspaceSpec(files=[WorkspaceFile(path="shipments.csv", content="region,weight_kg\nNorth,12.5\nSouth,7.0\n")],
                                setup=["python3 make_shipments.py --rows 1200 --seed 7"]),
        checks=[Check(name="summary.md has one row per region", command="test $(grep -c '^| [A-Z]' summary.md) -eq 4"),
                Check(name="totals match the CSV", command="python3 check_totals.py")],
        task_origin="generator",
    )
    messages = [
        SystemMessage(content="You are an agent working in a Linux workspace at /workspace. Use the tools."),
        UserMessage(content="hi. shipments.csv is in the workspace. how many rows has it got?"),
        AssistantMessage(content=None, tool_calls=[_call("c1", "exec", command="wc -l shipments.csv")]),
        ToolMessage(tool_call_id="c1", name="exec", content="1201 shipments.csv"),
        AssistantMessage(content="It has 1,200 shipments plus the header line."),
        UserMessage(content="ok. total weight_kg per region please, into summary.md as a table."),
        AssistantMessage(content="I'll run the summary script.", tool_calls=[_call("c2", "exec", command="python3 summarize.py shipments.csv")]),
        ToolMessage(tool_call_id="c2", name="exec",
                    content="python3: can't open file '/workspace/summarize.py': [Errno 2] No such file or directory"),
        AssistantMessage(content="There is no summarize.py yet; I'll write it.",
                         reasoning_content="The script does not exist. Write a small csv.DictReader aggregation.",
                         tool_calls=[_call("c3", "write", path="summarize.py", content=SUMMARIZE)]),
        ToolMessage(tool_call_id="c3", name="write", content=f"wrote {len(SUMMARIZE)} bytes to summarize.py"),
        AssistantMessage(tool_calls=[_call("c4", "exec", command="python3 summarize.py shipments.csv > summary.md && cat summary.md")]),
        ToolMessage(tool_call_id="c4", name="exec",
                    content="| region | weight_kg |\n|---|---|\n| East | 4411.0 |\n| North | 5120.5 |\n| South | 3977.0 |\n| West | 4834.0 |"),
        UserMessage(content="the old report.html had the same table, check it's the same regions"),
        AssistantMessage(tool_calls=[_call("c5", "grep", pattern="<td>", path="report.html")]),
        ToolMessage(tool_call_id="c5", name="grep", content=HTML_OUTPUT),
        AssistantMessage(content="report.html lists North among the same four regions. summary.md is written."),
        UserMessage(content="good, that's it. thanks"),
    ]
    executions = [
        ExecutionRecord(tool_call_id="c1", exit_code=0, duration_ms=41.2, is_error=False),
        ExecutionRecord(tool_call_id="c2", exit_code=2, duration_ms=63.9, is_error=True),
        ExecutionRecord(tool_call_id="c3", exit_code=0, duration_ms=2.1, is_error=False),
        ExecutionRecord(tool_call_id="c4", exit_code=0, duration_ms=88.4, is_error=False),
        ExecutionRecord(tool_call_id="c5", exit_code=0, duration_ms=3.3, is_error=False),
    ]
    if passed is None:
        verification = Verification(passed=None)
    else:
        verification = Verification(
            passed=passed,
            checks=[CheckResult(name="summary.md has one row per region", passed=True, exit_code=0, output=""),
                    CheckResult(name="totals match the CSV", passed=passed, exit_code=0 if passed else 1,
                                output="" if passed else "North: expected 5120.5, summary.md has 5102.5")],
            snapshot=[SnapshotEntry(path="shipments.csv", size=18420, sha256="3f" * 32),
                      SnapshotEntry(path="summarize.py", size=len(SUMMARIZE), sha256="a1" * 32),
                      SnapshotEntry(path="summary.md", size=112, sha256="9c" * 32)],
        )
    return Trajectory(
        id=trajectory_id,
        intent=intent,
        messages=messages,
        tools=[{"type": "function", "function": {"name": n, "description": n, "parameters": {"type": "object", "properties": {}}}}
               for n in ("exec", "write", "grep")],
        executions=executions,
        outcome=Outcome(status=status, reason="the user confirmed summary.md is right", termination=TerminationReason.user_completed),
        verification=verification,
        stats=compute_stats(messages, executions, drift_turns=1, scripted_turns=1),
        provenance=Provenance(
            agent_model="Qwen3-8B", user_model="Qwen3-32B", seeds={"run": 7, "episode": 3},
            prompt_versions={"user": "v3", "agent": "v1"}, sandbox_image="ise-trace-sandbox:4c1e9a",
            ise_trace_version="0.1.0", created_at="2026-03-02T09:14:00+00:00",
        ),
    )


def synthetic(i: int) -> Trajectory:
    t = make_trajectory(i, seed=3, user_turns=2 + i % 4, output_chars=240)
    kind = i % 3
    if kind == 2:
        return t
    passed = kind == 0
    v = Verification(passed=passed, checks=[CheckResult(name="the output file parses", passed=passed,
                                                        exit_code=0 if passed else 1, output="" if passed else "line 3: bad row")])
    return t.model_copy(update={"verification": v, "provenance": t.provenance.model_copy(update={"agent_model": f"agent-{i % 2}"})})


def corpus() -> list[Trajectory]:
    return [handmade(HANDMADE_ID, True), handmade(FALSE_SUCCESS_ID, False), handmade(UNVERIFIED_ID, None)] + [
        synthetic(i) for i in range(N_SYNTHETIC)
    ]


def write_run(path: Path, trajectories: list[Trajectory]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    with (path / "trajectories.jsonl").open("w", encoding="utf-8") as f:
        for t in trajectories:
            f.write(t.model_dump_json() + "\n")
    (path / "run.json").write_text('{"settings": {}, "settings_hash": "test"}\n', encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def trajectories() -> list[Trajectory]:
    return corpus()


@pytest.fixture(scope="session")
def run_folder(tmp_path_factory, trajectories) -> Path:
    return write_run(tmp_path_factory.mktemp("view-run") / "run", trajectories)


@pytest.fixture(scope="session")
def dataset_folder(tmp_path_factory, run_folder) -> Path:
    from ise_trace.config import BUILD_PRESETS
    from ise_trace.dataset.folder import build_folder

    build = BUILD_PRESETS["demo"].model_copy(update={"max_shard_mb": 0.05, "vendi": False})
    out = tmp_path_factory.mktemp("view-built") / "ise-trace"
    build_folder(build, out, run_dir=run_folder, show_progress=False)
    return out


@contextmanager
def serving(path: Path, host: str = "127.0.0.1"):
    """`ise-trace view PATH` in this process on a free loopback port; yields the server."""
    from ise_trace.view.server import ViewServer
    from ise_trace.view.source import open_source

    server = ViewServer(open_source(path), host, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

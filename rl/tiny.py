"""A tiny random Qwen3 and a handful of executable tasks, built locally for a CPU GRPO run.

    python rl/tiny.py out/tiny-rl    # writes out/tiny-rl/model and out/tiny-rl/intents.jsonl (what tiny-cpu.yaml reads)

Nothing is downloaded. The tasks: one hand-written task whose goal one short command reaches
(done.txt must say "ok"), then the seeded generator's tasks (ise_trace.tasks.generate) for a few
sampled one-task intents, with the generator's brief as the intent text, so their workspaces,
setup and checks are the real ones. The model is sft/tiny.py's ~0.1 M parameter Qwen3 (byte-level
BPE trained here on the tasks' text and the tool schemas, TRL's Qwen3 chat template), then
warm-started for a few seconds to answer any task with one `exec` call of that short command: a
purely random model almost never emits a well-formed tool call, and this one does, so a CPU run
exercises the whole path (TRL parses the call, the workspace runs it, the checks score it).
`--random` skips the warm start.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sft_tiny():
    """sft/tiny.py, imported by path (the scripts live beside the package, not in it)."""
    spec = importlib.util.spec_from_file_location("sft_tiny", ROOT / "sft" / "tiny.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


WARM_COMMAND = "echo ok > done.txt"
WARM_CALL = '<tool_call>\n{"name": "exec", "arguments": {"command": "%s"}}\n</tool_call>' % WARM_COMMAND


def tiny_tasks(n: int = 4, seed: int = 0) -> list:
    """The done.txt task, then `n - 1` intents with the generator's tasks, one task kind each where the sample allows."""
    from ise_trace.config import ComplexityShape, IntentConfig
    from ise_trace.intents.sampler import IntentSampler
    from ise_trace.intents.taxonomy import Taxonomy
    from ise_trace.schemas import Check, Intent, RendererInfo, WorkspaceFile, WorkspaceSpec
    from ise_trace.tasks.generate import generate_task

    taxonomy = Taxonomy.load()
    simple = {"simple": ComplexityShape(weight=1, domains=(1, 1), tasks=(1, 1))}
    first = next(iter(IntentSampler(taxonomy, IntentConfig(n=1, seed=seed, complexity=simple)).sample(1)))
    out = [Intent(
        id="tiny-done-ok", text="Create done.txt in my workspace, holding the single line ok.",
        persona=first.persona, domains=first.domains, complexity="simple", seed=seed,
        renderer=RendererInfo(model="hand", prompt_version="tiny-rl-v1"),
        workspace=WorkspaceSpec(files=[WorkspaceFile(path="README.txt", content="Put done.txt here.\n")]),
        checks=[Check(name="done.txt says ok", command="test \"$(cat done.txt)\" = ok")],
        reference=WARM_COMMAND, task_origin="hand",
    )]
    seen: set[str] = set()
    for sampled in IntentSampler(taxonomy, IntentConfig(n=20 * n, seed=seed, complexity=simple)).sample(20 * n):
        task = generate_task(sampled, taxonomy)
        if task is None or task.brief in seen or any(c.name in seen for c in task.checks):
            continue
        seen |= {task.brief, *(c.name for c in task.checks)}
        out.append(Intent(
            id=sampled.id, text=f"Please do this in my workspace. {task.brief.removeprefix('- ')}",
            persona=sampled.persona, domains=sampled.domains, complexity=sampled.complexity, seed=sampled.seed,
            renderer=RendererInfo(model="template", prompt_version="tiny-rl-v1"),
            workspace=task.workspace, checks=task.checks, reference=task.reference, task_origin="generator",
        ))
        if len(out) == n:
            break
    return out


def warm_start(model, tokenizer, intents: list, steps: int = 120, lr: float = 3e-3) -> float:
    """Teach the model to answer each task's opening prompt (as GRPOTrainer renders it, tools included)
    with `WARM_CALL`; returns the last loss."""
    import torch

    from ise_trace.rl import TaskEnvironment
    from ise_trace.rl.data import opening_prompt

    env = TaskEnvironment()
    tools = [getattr(env, name) for name in ("edit", "exec", "glob", "grep", "list", "read", "write")]
    target = tokenizer(WARM_CALL + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
    batch = []
    for intent in intents:
        prompt = opening_prompt()
        prompt[-1]["content"] = intent.text
        ids = tokenizer.apply_chat_template(prompt, tools=tools, add_generation_prompt=True, tokenize=True,
                                            return_dict=True)["input_ids"]
        batch.append((torch.tensor([ids + target]), torch.tensor([[-100] * len(ids) + target])))
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for step in range(steps):
        input_ids, labels = batch[step % len(batch)]
        loss = model(input_ids=input_ids, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    return float(loss.detach())


def make_tiny(root: Path, n: int = 4, warm: bool = True) -> tuple[Path, Path]:
    """Write `root/model` (tokenizer included) and `root/intents.jsonl`; returns both paths."""
    from ise_trace.execute import TOOL_SCHEMAS

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    tiny = sft_tiny()
    intents = tiny_tasks(n)
    corpus = [json.dumps(TOOL_SCHEMAS), *tiny.corpus_of(tiny.tiny_trajectories(8))]
    corpus += [i.text for i in intents] + [f.content[:2000] for i in intents for f in i.workspace.files]
    corpus.append(WARM_CALL)
    tokenizer = tiny.build_tokenizer(corpus)
    model = tiny.build_model(tokenizer)
    if warm:
        warm_start(model, tokenizer, intents)
    model.save_pretrained(root / "model")
    tokenizer.save_pretrained(root / "model")
    tasks = root / "intents.jsonl"
    tasks.write_text("".join(json.dumps(i.model_dump(mode="json")) + "\n" for i in intents), encoding="utf-8")
    return root / "model", tasks


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--random"]
    model_dir, tasks_file = make_tiny(Path(args[0] if args else "out/tiny-rl"), warm="--random" not in sys.argv)
    print(f"model: {model_dir}\ntasks: {tasks_file}")

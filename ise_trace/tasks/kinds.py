"""Seeded task generators: a workspace, a goal, checks that prove the goal, and a reference.

Each task of the taxonomy names a kind in its `workspace:` hint. A kind builds one `TaskPart`
from a seeded context: realistic file content from Faker, the goal as a brief the renderer
writes into the intent text, checks of substance (the output parses, the figures are right, the
tests pass), and a reference script that reaches the goal. The expected values are computed here,
on the host, and written into the checks: the checks never trust files the agent could edit.

Checks and references run inside the sandbox image (Debian python3, git, coreutils), so they use
the standard library only.
"""

from __future__ import annotations

import hashlib
import json
import random
import shlex
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from faker import Faker

from ..schemas import Check, Persona, TaskSpec, WorkspaceFile


@dataclass
class TaskPart:
    """One task's share of a workspace."""

    brief: str  # what is there and what result is expected, for the renderer and the user
    files: list[WorkspaceFile] = field(default_factory=list)
    setup: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    reference: str = ""


@dataclass
class Context:
    rng: random.Random
    fake: Faker
    task: TaskSpec
    domain: str
    persona: Persona
    taken: set[str]  # file names already used in this workspace

    def name(self, stem: str, ext: str = "") -> str:
        """A file name not yet used in this workspace."""
        stem = stem.lower().replace(" ", "_").replace("-", "_")
        candidate, n = f"{stem}{ext}", 2
        while candidate in self.taken:
            candidate, n = f"{stem}_{n}{ext}", n + 1
        self.taken.add(candidate)
        return candidate

    def pick(self, options: list):
        return options[min(int(self.rng.random() * len(options)), len(options) - 1)]


def py(code: str) -> str:
    """A shell command running `code` with the sandbox's python3."""
    return f"python3 - <<'PY'\n{code.strip()}\nPY"


def literal(obj) -> str:
    """`obj` as a Python expression for generated code (JSON-safe values only)."""
    return f"json.loads({json.dumps(obj, sort_keys=True)!r})"


KINDS: dict[str, Callable[[Context], TaskPart]] = {}


def kind(name: str):
    def register(fn: Callable[[Context], TaskPart]) -> Callable[[Context], TaskPart]:
        KINDS[name] = fn
        return fn

    return register


# ----------------------------------------------------------------------------- tables


_TABLE_TOPICS = [
    ("orders", "region", "amount"),
    ("invoices", "client", "total"),
    ("expenses", "department", "cost"),
    ("shipments", "warehouse", "weight_kg"),
    ("donations", "campaign", "amount"),
    ("timesheets", "project", "hours"),
]


@kind("table_aggregate")
def table_aggregate(ctx: Context) -> TaskPart:
    topic, group, value = ctx.pick(_TABLE_TOPICS)
    groups = sorted({ctx.fake.city() if group in ("region", "warehouse") else ctx.fake.last_name() for _ in range(8)})[:6]
    n_rows, seed = 2000, int(ctx.rng.random() * 1_000_000)
    src, out = ctx.name(topic, ".csv"), ctx.name(f"{value}_by_{group}", ".csv")
    # The rows come from a seeded snippet in setup (smaller than 2,000 written-out rows); the
    # host runs the same snippet to know the right totals.
    gen = f"""
import csv, random
rng = random.Random({seed})
groups = {groups!r}
with open({src!r}, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["id", "date", "{group}", "{value}"])
    for i in range({n_rows}):
        g = groups[min(int(rng.random() * len(groups)), len(groups) - 1)]
        day = 1 + min(int(rng.random() * 28), 27)
        month = 1 + min(int(rng.random() * 12), 11)
        w.writerow([i + 1, f"2025-{{month:02d}}-{{day:02d}}", g, f"{{rng.random() * 500 + 5:.2f}}"])
"""
    totals: dict[str, float] = defaultdict(float)
    rng = random.Random(seed)
    for _ in range(n_rows):
        g = groups[min(int(rng.random() * len(groups)), len(groups) - 1)]
        rng.random(), rng.random()
        totals[g] += float(f"{rng.random() * 500 + 5:.2f}")
    expected = {g: round(t, 2) for g, t in totals.items()}
    check = f"""
import csv, json, sys
expected = {literal(expected)}
rows = list(csv.DictReader(open({out!r}, newline="")))
got = {{r["{group}"].strip(): float(r["total"]) for r in rows}}
if set(got) != set(expected):
    sys.exit(f"groups differ: {{sorted(got)}}")
bad = [g for g in expected if abs(got[g] - expected[g]) > 0.05]
if bad:
    sys.exit(f"wrong totals for {{bad}}")
totals = [float(r["total"]) for r in rows]
if totals != sorted(totals, reverse=True):
    sys.exit("not sorted by total, largest first")
"""
    reference = py(f"""
import csv
from collections import defaultdict
t = defaultdict(float)
for r in csv.DictReader(open({src!r}, newline="")):
    t[r["{group}"]] += float(r["{value}"])
with open({out!r}, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["{group}", "total"])
    for g, v in sorted(t.items(), key=lambda kv: -kv[1]):
        w.writerow([g, f"{{v:.2f}}"])
""")
    return TaskPart(
        brief=(
            f"{src} holds {n_rows} {topic} (columns id, date, {group}, {value}). The result: {out} with the "
            f"columns {group},total: the sum of {value} per {group}, rounded to cents, largest total first."
        ),
        setup=[py(gen)],
        checks=[Check(name=f"{out} has the right total per {group}, sorted", command=py(check))],
        reference=reference,
    )


# ----------------------------------------------------------------------------- documents


@kind("report_summary")
def report_summary(ctx: Context) -> TaskPart:
    subject = ctx.pick(["quarterly operations", "customer retention", "site safety", "platform reliability",
                        "supplier performance", "annual fundraising"])
    company = ctx.fake.company()
    figures = {
        "revenue": f"{int(ctx.rng.random() * 900 + 100)},{int(ctx.rng.random() * 900 + 100)} EUR",
        "incidents": str(int(ctx.rng.random() * 40 + 3)),
        "satisfaction": f"{int(ctx.rng.random() * 30 + 65)}%",
    }
    paragraphs = [ctx.fake.paragraph(nb_sentences=6) for _ in range(8)]
    paragraphs.insert(2, f"Total revenue for the period came to {figures['revenue']}, ahead of the plan.")
    paragraphs.insert(5, f"We logged {figures['incidents']} incidents, each reviewed by the on-call lead.")
    paragraphs.insert(7, f"Customer satisfaction in the closing survey stood at {figures['satisfaction']}.")
    src, out = ctx.name(subject.replace(" ", "_") + "_report", ".md"), ctx.name("summary", ".md")
    text = f"# {company}: {subject} report\n\n" + "\n\n".join(paragraphs) + "\n"
    words = len(text.split())
    limit = 120
    check = f"""
import json, sys
figures = {literal(list(figures.values()))}
text = open({out!r}, encoding="utf-8").read()
n = len(text.split())
if not 10 <= n <= {limit}:
    sys.exit(f"summary has {{n}} words, want 10 to {limit}")
missing = [f for f in figures if f not in text]
if missing:
    sys.exit(f"summary misses the key figures {{missing}}")
"""
    summary = (f"# Summary\n\nThe period closed with revenue of {figures['revenue']}, {figures['incidents']} "
               f"reviewed incidents and customer satisfaction at {figures['satisfaction']}.\n")
    return TaskPart(
        brief=(
            f"{src} is a {words}-word {subject} report of {company}. The result: {out}, a summary of at most "
            f"{limit} words that states the report's revenue, incident count and satisfaction figures exactly as written."
        ),
        files=[WorkspaceFile(path=src, content=text)],
        checks=[Check(name=f"{out} is short and keeps the key figures", command=py("import json\n" + check))],
        reference=f"cat > {out} <<'EOF'\n{summary}EOF",
    )


_LABEL_SETS = [
    ("tickets", ["billing", "login", "shipping", "refund"], {
        "billing": ["I was charged twice on my invoice", "the invoice amount is wrong", "billing shows an extra fee"],
        "login": ["I cannot log in to my account", "password reset link fails", "login page says locked"],
        "shipping": ["my parcel has not arrived", "tracking shows no shipping update", "delivery went to the wrong address"],
        "refund": ["I want a refund for the broken item", "refund still not received", "please refund my order"],
    }),
    ("reviews", ["positive", "negative", "neutral"], {
        "positive": ["excellent service, loved it", "great quality and fast", "wonderful staff, highly recommend"],
        "negative": ["terrible experience, very disappointed", "awful quality and slow", "broken on arrival, bad support"],
        "neutral": ["it was okay, nothing special", "average product, as described", "fine overall, no strong opinion"],
    }),
]


@kind("records_label")
def records_label(ctx: Context) -> TaskPart:
    item, labels, phrases = ctx.pick(_LABEL_SETS)
    src, labels_file = ctx.name(item, ".jsonl"), ctx.name(f"{item}_labels", ".txt")
    out, counts_file = ctx.name(f"{item}_labelled", ".jsonl"), ctx.name(f"{item}_label_counts", ".json")
    records, truth = [], {}
    for i in range(40):
        label = ctx.pick(labels)
        text = f"{ctx.pick(phrases[label])}. {ctx.fake.sentence(nb_words=8)}"
        rid = f"{item[:1].upper()}-{1000 + i}"
        records.append({"id": rid, "customer": ctx.fake.name(), "text": text})
        truth[rid] = label
    check_labels = f"""
import json, sys
truth = {literal(truth)}
allowed = {literal(labels)}
rows = [json.loads(l) for l in open({out!r}, encoding="utf-8") if l.strip()]
ids = [r["id"] for r in rows]
if sorted(ids) != sorted(truth):
    sys.exit("every record must appear exactly once")
bad = [r["id"] for r in rows if r.get("label") not in allowed]
if bad:
    sys.exit(f"labels outside {{allowed}}: {{bad[:5]}}")
right = sum(truth[r["id"]] == r["label"] for r in rows)
if right < 0.75 * len(rows):
    sys.exit(f"only {{right}} of {{len(rows)}} labels are right")
"""
    check_counts = f"""
import json, sys
from collections import Counter
rows = [json.loads(l) for l in open({out!r}, encoding="utf-8") if l.strip()]
counts = json.load(open({counts_file!r}))
if {{k: int(v) for k, v in counts.items() if int(v)}} != dict(Counter(r["label"] for r in rows)):
    sys.exit("counts do not match the labelled file")
"""
    reference = py(f"""
import json
from collections import Counter
phrases = {literal(phrases)}
rows = []
for line in open({src!r}, encoding="utf-8"):
    r = json.loads(line)
    r["label"] = next(l for l, ps in phrases.items() if any(r["text"].startswith(p) for p in ps))
    rows.append(r)
with open({out!r}, "w", encoding="utf-8") as f:
    f.writelines(json.dumps(r) + "\\n" for r in rows)
json.dump(Counter(r["label"] for r in rows), open({counts_file!r}, "w"))
""")
    return TaskPart(
        brief=(
            f"{src} holds {len(records)} customer {item} (fields id, customer, text); {labels_file} lists the allowed "
            f"labels ({', '.join(labels)}). The result: {out} with every record plus a 'label' field from that list, "
            f"and {counts_file} with the number of records per label."
        ),
        files=[
            WorkspaceFile(path=src, content="".join(json.dumps(r) + "\n" for r in records)),
            WorkspaceFile(path=labels_file, content="\n".join(labels) + "\n"),
        ],
        checks=[
            Check(name=f"{out}: every record once, allowed labels, mostly right", command=py(check_labels)),
            Check(name=f"{counts_file} matches the labels", command=py(check_counts)),
        ],
        reference=reference,
    )


@kind("extract_fields")
def extract_fields(ctx: Context) -> TaskPart:
    folder = ctx.name("inbox")
    out = ctx.name("extracted", ".csv")
    files, truth = [], []
    for i in range(6):
        inv = f"INV-{int(ctx.rng.random() * 90000) + 10000}"
        date = ctx.fake.date_between(start_date="-1y", end_date="today").isoformat()
        amount = f"{ctx.rng.random() * 4000 + 50:.2f}"
        sender = ctx.fake.name()
        body = (
            f"From: {sender} <{ctx.fake.email()}>\nSubject: {ctx.fake.catch_phrase()}\n\n"
            f"Hello,\n\n{ctx.fake.paragraph(nb_sentences=3)} Please find invoice {inv} dated {date} "
            f"for a total of {amount} EUR.\n\n{ctx.fake.paragraph(nb_sentences=2)}\n\nRegards,\n{sender}\n"
        )
        name = f"message_{i + 1:02d}.txt"
        files.append(WorkspaceFile(path=f"{folder}/{name}", content=body))
        truth.append({"file": name, "invoice_id": inv, "date": date, "amount": amount})
    check = f"""
import csv, json, sys
truth = {literal(truth)}
rows = list(csv.DictReader(open({out!r}, newline="")))
got = {{(r["file"].split("/")[-1], r["invoice_id"].strip(), r["date"].strip(), f'{{float(r["amount"]):.2f}}') for r in rows}}
want = {{(t["file"], t["invoice_id"], t["date"], t["amount"]) for t in truth}}
if got != want:
    sys.exit(f"{{len(want - got)}} of {{len(want)}} messages are missing or wrong")
"""
    reference = py(f"""
import csv, os, re
rows = []
for name in sorted(os.listdir({folder!r})):
    t = open(os.path.join({folder!r}, name)).read()
    m = re.search(r"invoice (INV-\\d+) dated (\\S+) for a total of ([\\d.]+)", t)
    rows.append([name, m.group(1), m.group(2), m.group(3)])
with open({out!r}, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["file", "invoice_id", "date", "amount"])
    w.writerows(rows)
""")
    return TaskPart(
        brief=(
            f"{folder}/ holds {len(files)} saved e-mails, each mentioning one invoice number, its date and amount. "
            f"The result: {out} with the columns file,invoice_id,date,amount, one row per e-mail."
        ),
        files=files,
        checks=[Check(name=f"{out} has every invoice with the right date and amount", command=py(check))],
        reference=reference,
    )


# ----------------------------------------------------------------------------- code


_BUGS = [
    ("average", "def average(values):\n    \"\"\"Mean of a non-empty list.\"\"\"\n    return sum(values) / (len(values) - 1)\n",
     "(len(values) - 1)", "len(values)",
     "    def test_average(self):\n        self.assertEqual(average([2, 4, 6]), 4)\n        self.assertEqual(average([5]), 5)\n"),
    ("clamp", "def clamp(x, low, high):\n    \"\"\"x limited to [low, high].\"\"\"\n    return max(low, min(x, low))\n",
     "min(x, low)", "min(x, high)",
     "    def test_clamp(self):\n        self.assertEqual(clamp(5, 0, 10), 5)\n        self.assertEqual(clamp(-1, 0, 10), 0)\n"
     "        self.assertEqual(clamp(11, 0, 10), 10)\n"),
    ("count_words", "def count_words(text):\n    \"\"\"Number of words separated by whitespace.\"\"\"\n    return len(text.split(' ')) \n",
     "text.split(' ')", "text.split()",
     "    def test_count_words(self):\n        self.assertEqual(count_words('a  b\\tc\\n'), 3)\n        self.assertEqual(count_words(''), 0)\n"),
]


@kind("python_fix")
def python_fix(ctx: Context) -> TaskPart:
    func, source, wrong, right, test_body = ctx.pick(_BUGS)
    pkg = ctx.name(ctx.pick(["billing", "reports", "inventory", "scheduler", "ledger"]) + "_tools")
    module = f"{pkg}/{func}.py"
    test_path = f"{pkg}/tests/test_{func}.py"
    test = (
        f"import unittest\n\nfrom {pkg}.{func} import {func}\n\n\nclass Test{func.title().replace('_', '')}"
        f"(unittest.TestCase):\n{test_body}\n\nif __name__ == '__main__':\n    unittest.main()\n"
    )
    run_tests = f"python3 -m unittest discover -s {pkg}/tests -t . 2>&1"
    digest = hashlib.sha256(test.encode()).hexdigest()
    return TaskPart(
        brief=(
            f"{pkg}/ is a small Python package; its unit test {test_path} fails because {module} has a bug. "
            f"The result: the bug fixed in {module} so that `python3 -m unittest discover -s {pkg}/tests -t .` "
            "passes, without changing the test."
        ),
        files=[
            WorkspaceFile(path=f"{pkg}/__init__.py", content=""),
            WorkspaceFile(path=module, content=source),
            WorkspaceFile(path=f"{pkg}/tests/__init__.py", content=""),
            WorkspaceFile(path=test_path, content=test),
        ],
        checks=[
            Check(name=f"the tests of {pkg} pass", command=run_tests),
            Check(name=f"{test_path} is unchanged", command=f"echo '{digest}  {test_path}' | sha256sum -c --quiet"),
        ],
        reference=py(f"p = {module!r}\ntext = open(p).read()\nopen(p, 'w').write(text.replace({wrong!r}, {right!r}))"),
    )


@kind("git_history")
def git_history(ctx: Context) -> TaskPart:
    repo = ctx.name(ctx.pick(["webshop", "field-app", "pricing-engine", "mailer", "dashboards"]).replace("-", "_"))
    subjects = [f"{ctx.pick(['Add', 'Fix', 'Update', 'Remove', 'Refactor'])} {ctx.fake.bs()}" for _ in range(6)]
    author = ctx.persona.name
    lines = [
        f"mkdir -p {repo} && cd {repo} && git init -q -b main",
        f"git config user.name {shlex.quote(author)} && git config user.email dev@example.org",
        "echo '# notes' > NOTES.md && git add . && git commit -qm 'Initial commit' && git tag v1.0.0",
    ]
    for i, s in enumerate(subjects):
        lines.append(f"echo {shlex.quote(ctx.fake.sentence())} >> NOTES.md && git commit -qam {shlex.quote(s)}")
    setup = " && ".join(lines)
    check_log = f"""
import json, sys
subjects = {literal(subjects)}
text = open({repo + '/CHANGELOG.md'!r}, encoding="utf-8").read()
missing = [s for s in subjects if s not in text]
if missing:
    sys.exit(f"CHANGELOG.md misses {{len(missing)}} commit subjects, e.g. {{missing[0]!r}}")
"""
    check_tag = (
        f"cd {repo} && test \"$(git rev-parse -q --verify 'v1.1.0^{{commit}}')\" = \"$(git rev-parse HEAD)\" "
        "&& git diff --quiet HEAD -- && git ls-files --error-unmatch CHANGELOG.md >/dev/null"
    )
    reference = (
        f"cd {repo} && {{ echo '# Changelog'; echo; echo '## v1.1.0'; git log --format='- %s' v1.0.0..HEAD; }} > CHANGELOG.md "
        "&& git add CHANGELOG.md && git commit -qm 'Changelog for v1.1.0' && git tag v1.1.0"
    )
    return TaskPart(
        brief=(
            f"{repo}/ is a git repository with {len(subjects) + 1} commits; v1.0.0 tags the first. The result: "
            f"{repo}/CHANGELOG.md listing the subject of every commit since v1.0.0, committed, and the tag v1.1.0 on that commit."
        ),
        setup=[setup],
        checks=[
            Check(name="CHANGELOG.md lists every commit since v1.0.0", command=py(check_log)),
            Check(name="CHANGELOG.md committed and tagged v1.1.0", command=check_tag),
        ],
        reference=reference,
    )


# ----------------------------------------------------------------------------- files and configs


@kind("files_organise")
def files_organise(ctx: Context) -> TaskPart:
    folder = ctx.name(ctx.pick(["downloads", "incoming", "shared_drive", "scans"]))
    exts = ["pdf", "csv", "jpg", "txt", "docx"]
    files, truth = [], Counter()
    for i in range(18):
        ext = ctx.pick(exts)
        name = f"{ctx.fake.word()}_{ctx.fake.word()}_{i + 1}.{ext}"
        files.append(WorkspaceFile(path=f"{folder}/{name}", content=ctx.fake.sentence() + "\n"))
        truth[ext] += 1
    check = f"""
import json, os, sys
truth = {literal(dict(truth))}
loose = [n for n in os.listdir({folder!r}) if os.path.isfile(os.path.join({folder!r}, n))]
if loose:
    sys.exit(f"{{len(loose)}} files are still loose in {folder}/")
for ext, n in truth.items():
    sub = os.path.join({folder!r}, ext)
    got = [f for f in os.listdir(sub) if f.endswith("." + ext)] if os.path.isdir(sub) else []
    if len(got) != n:
        sys.exit(f"{folder}/{{ext}}/ has {{len(got)}} .{{ext}} files, want {{n}}")
"""
    reference = (
        f"cd {folder} && for f in *.*; do [ -f \"$f\" ] || continue; e=\"${{f##*.}}\"; mkdir -p \"$e\"; mv \"$f\" \"$e/\"; done"
    )
    return TaskPart(
        brief=(
            f"{folder}/ holds {len(files)} loose files of the types {', '.join(sorted(truth))}. The result: every file "
            f"moved into a subfolder of {folder}/ named after its extension (e.g. {folder}/pdf/), none left loose."
        ),
        files=files,
        checks=[Check(name=f"{folder}/ sorted into one folder per extension", command=py(check))],
        reference=reference,
    )


@kind("config_convert")
def config_convert(ctx: Context) -> TaskPart:
    app = ctx.pick(["billing", "scheduler", "gateway", "reporting", "sync"])
    src, out = ctx.name(f"{app}", ".ini"), ctx.name(f"{app}", ".json")
    port = int(ctx.rng.random() * 5000 + 3000)
    new_port = port + 443
    config = {
        "server": {"host": "127.0.0.1", "port": port, "workers": int(ctx.rng.random() * 8 + 2)},
        "database": {"name": f"{app}_db", "user": ctx.fake.user_name(), "pool_size": int(ctx.rng.random() * 20 + 5)},
        "logging": {"level": ctx.pick(["INFO", "WARNING", "DEBUG"]), "file": f"/var/log/{app}.log"},
    }
    ini = "".join(
        f"[{section}]\n" + "".join(f"{k} = {v}\n" for k, v in values.items()) + "\n" for section, values in config.items()
    )
    expected = json.loads(json.dumps(config))
    expected["server"]["port"] = new_port
    check = f"""
import json, sys
expected = {literal(expected)}
got = json.load(open({out!r}))
if got != expected:
    diff = [f"{{s}}.{{k}}" for s in expected for k in expected[s] if (got.get(s) or {{}}).get(k) != expected[s][k]]
    sys.exit(f"{out} differs at {{diff or sorted(set(got) ^ set(expected))}} (numbers must be numbers)")
"""
    reference = py(f"""
import configparser, json
c = configparser.ConfigParser()
c.read({src!r})
def value(v):
    try:
        return int(v)
    except ValueError:
        return v
d = {{s: {{k: value(v) for k, v in c[s].items()}} for s in c.sections()}}
d["server"]["port"] = {new_port}
json.dump(d, open({out!r}, "w"), indent=2)
""")
    return TaskPart(
        brief=(
            f"{src} is the INI configuration of the {app} service. The result: {out}, the same settings as JSON "
            f"(one object per section, whole numbers as numbers), with the server port changed from {port} to {new_port}."
        ),
        files=[WorkspaceFile(path=src, content=ini)],
        checks=[Check(name=f"{out} holds every setting, typed, with the new port", command=py(check))],
        reference=reference,
    )


@kind("log_counts")
def log_counts(ctx: Context) -> TaskPart:
    services = sorted({ctx.pick(["api", "worker", "auth", "billing", "search", "mailer"]) for _ in range(4)})
    out = ctx.name("error_report", ".json")
    messages = ["timeout talking to db", "disk quota exceeded", "invalid token", "connection reset", "queue full"]
    files, errors = [], {}
    for svc in services:
        lines, counts = [], Counter()
        for i in range(120):
            level = ctx.pick(["INFO", "INFO", "INFO", "WARN", "ERROR"])
            msg = ctx.pick(messages) if level == "ERROR" else ctx.fake.sentence(nb_words=6).rstrip(".")
            if level == "ERROR":
                counts[msg] += 1
            lines.append(f"2025-06-{1 + i // 24:02d}T{i % 24:02d}:{int(ctx.rng.random() * 60):02d}:00Z {level} {svc}: {msg}")
        files.append(WorkspaceFile(path=f"logs/{svc}.log", content="\n".join(lines) + "\n"))
        errors[svc] = sum(counts.values())
    check = f"""
import json, sys
expected = {literal(errors)}
got = json.load(open({out!r}))
counts = got.get("errors_per_service", got)
if {{k: int(v) for k, v in counts.items()}} != expected:
    sys.exit(f"wrong ERROR counts: {{counts}}")
"""
    reference = py(f"""
import json, os
counts = {{}}
for name in sorted(os.listdir("logs")):
    svc = name[:-4]
    counts[svc] = sum(" ERROR " in l for l in open(os.path.join("logs", name)))
json.dump({{"errors_per_service": counts}}, open({out!r}, "w"), indent=2)
""")
    return TaskPart(
        brief=(
            f"logs/ holds the logs of the services {', '.join(services)} (one line per event: time, level, service, "
            f"message). The result: {out} with an object \"errors_per_service\" mapping each service to its number of ERROR lines."
        ),
        files=files,
        checks=[Check(name=f"{out} counts the ERROR lines of every service", command=py(check))],
        reference=reference,
    )


@kind("html_extract")
def html_extract(ctx: Context) -> TaskPart:
    folder, out = ctx.name("saved_pages"), ctx.name("pages", ".csv")
    files, truth = [], []
    for i in range(5):
        title = ctx.fake.catch_phrase()
        n_links = int(ctx.rng.random() * 6) + 1
        links = "".join(f'<li><a href="https://{ctx.fake.domain_name()}/{ctx.fake.uri_path()}">{ctx.fake.word()}</a></li>'
                        for _ in range(n_links))
        html = (f"<!doctype html>\n<html><head><title>{title}</title></head>\n<body><h1>{title}</h1>\n"
                f"<p>{ctx.fake.paragraph()}</p>\n<ul>{links}</ul>\n</body></html>\n")
        name = f"page_{i + 1}.html"
        files.append(WorkspaceFile(path=f"{folder}/{name}", content=html))
        truth.append({"page": name, "title": title, "links": n_links})
    check = f"""
import csv, json, sys
truth = {literal(truth)}
rows = list(csv.DictReader(open({out!r}, newline="")))
got = {{(r["page"].split("/")[-1], r["title"].strip(), int(r["links"])) for r in rows}}
want = {{(t["page"], t["title"], t["links"]) for t in truth}}
if got != want:
    sys.exit(f"{{len(want - got)}} of {{len(want)}} pages missing or wrong")
"""
    reference = py(f"""
import csv, os, re
with open({out!r}, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["page", "title", "links"])
    for name in sorted(os.listdir({folder!r})):
        t = open(os.path.join({folder!r}, name)).read()
        w.writerow([name, re.search(r"<title>(.*?)</title>", t).group(1), t.count("<a href=")])
""")
    return TaskPart(
        brief=(
            f"{folder}/ holds {len(files)} saved web pages. The result: {out} with the columns page,title,links: "
            "each page's file name, its <title> text and its number of links."
        ),
        files=files,
        checks=[Check(name=f"{out} has every page's title and link count", command=py(check))],
        reference=reference,
    )


@kind("sqlite_report")
def sqlite_report(ctx: Context) -> TaskPart:
    db, out = ctx.name("shop", ".db"), ctx.name("top_customers", ".csv")
    customers = sorted({ctx.fake.name() for _ in range(14)})[:12]
    orders = [(1 + int(ctx.rng.random() * len(customers)), round(ctx.rng.random() * 300 + 10, 2)) for _ in range(150)]
    threshold = 2000
    build = f"""
import json, sqlite3
c = sqlite3.connect({db!r})
c.execute("create table customers (id integer primary key, name text)")
c.execute("create table orders (id integer primary key, customer_id integer, amount real)")
c.executemany("insert into customers values (?, ?)", list(enumerate({literal(customers)}, 1)))
c.executemany("insert into orders (customer_id, amount) values (?, ?)", {literal(orders)})
c.commit()
"""
    totals: dict[str, float] = defaultdict(float)
    for cid, amount in orders:
        totals[customers[cid - 1]] += amount
    expected = {name: round(t, 2) for name, t in totals.items() if t > threshold}
    check = f"""
import csv, json, sys
expected = {literal(expected)}
rows = list(csv.DictReader(open({out!r}, newline="")))
got = {{r["name"].strip(): float(r["total"]) for r in rows}}
if set(got) != set(expected) or any(abs(got[n] - expected[n]) > 0.05 for n in expected):
    sys.exit(f"want {{len(expected)}} customers with totals over {threshold}, got {{len(got)}} or wrong totals")
"""
    reference = py(f"""
import csv, sqlite3
c = sqlite3.connect({db!r})
rows = c.execute("select c.name, round(sum(o.amount), 2) t from orders o join customers c on c.id = o.customer_id "
                 "group by c.id having sum(o.amount) > {threshold} order by t desc").fetchall()
with open({out!r}, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["name", "total"])
    w.writerows(rows)
""")
    return TaskPart(
        brief=(
            f"{db} is an SQLite database with the tables customers(id, name) and orders(id, customer_id, amount). "
            f"The result: {out} with the columns name,total for every customer whose orders sum to more than {threshold}."
        ),
        setup=[py(build)],
        checks=[Check(name=f"{out} lists the customers over {threshold} with their totals", command=py(check))],
        reference=reference,
    )

"""A hand-written executable task (workspace + checks + reference) and variants that must fail."""

from __future__ import annotations

from ise_trace.schemas import Check, Intent, WorkspaceFile, WorkspaceSpec
from tests.simulate.scripted import make_intent

SALES = "region,amount\nnorth,10.50\nsouth,4.25\nnorth,2.00\n"

CHECKS = [
    Check(name="totals.csv parses with the right totals", command=(
        "python3 - <<'PY'\nimport csv, sys\n"
        "rows = {r['region']: float(r['total']) for r in csv.DictReader(open('totals.csv'))}\n"
        "sys.exit(0 if rows == {'north': 12.5, 'south': 4.25} else f'wrong totals {rows}')\nPY"
    )),
    Check(name="sales.csv untouched", command="test \"$(wc -l < sales.csv)\" = 4"),
]

REFERENCE = (
    "python3 - <<'PY'\nimport csv\nt = {}\n"
    "for r in csv.DictReader(open('sales.csv')):\n    t[r['region']] = t.get(r['region'], 0) + float(r['amount'])\n"
    "w = csv.writer(open('totals.csv', 'w', newline=''))\nw.writerow(['region', 'total'])\n"
    "[w.writerow([k, v]) for k, v in sorted(t.items())]\nPY"
)


def task_intent(intent_id: str = "task-0001", **changes) -> Intent:
    intent = make_intent(intent_id, text="Sum the amounts in sales.csv per region into totals.csv (region,total).")
    fields = {
        "workspace": WorkspaceSpec(
            files=[WorkspaceFile(path="sales.csv", content=SALES),
                   WorkspaceFile(path="bin/hello.sh", content="echo hello\n", mode="0755")],
            setup=["mkdir -p archive && git init -q archive"],
        ),
        "checks": CHECKS,
        "reference": REFERENCE,
        "task_origin": "hand",
    }
    fields.update(changes)
    return intent.model_copy(update=fields)

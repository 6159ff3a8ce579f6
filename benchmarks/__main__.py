"""``scripts/bench COMMAND``: dispatch to one benchmark module.

``run`` belongs to ``benchmarks/run_bench.py``, written separately; until that module exists
the command says so and succeeds, so scripts calling every benchmark keep working.

``history --repo PATH`` is ``replay --repo PATH`` (the name issue 12 gave it): a real
repository's history replayed as tasks. ``history`` without ``--repo`` reads a generated long
history with git processes against GitPython.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Sequence

COMMANDS = {
    "schedule": "benchmarks.schedule_bench",
    "plan": "benchmarks.plan_bench",
    "run": "benchmarks.run_bench",
    "history": "benchmarks.history_bench",
    "report": "benchmarks.report_bench",
    "gate": "benchmarks.gate_bench",
    "replay": "benchmarks.replay_bench",
    "predict": "benchmarks.predict_bench",
    "gitcost": "benchmarks.gitcost_bench",
    "soak": "benchmarks.soak_bench",
}
USAGE = (
    "usage: scripts/bench {schedule|plan|run|history|report|gate|replay|predict|gitcost|soak}"
    " [--quick] [--json] [--help]"
)


def main(argv: Sequence[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(USAGE, file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module_name = COMMANDS[argv[0]]
    if argv[0] == "history" and any(a == "--repo" or a.startswith("--repo=") for a in argv[1:]):
        module_name = COMMANDS["replay"]  # issue 12's name: a real repository's history replayed
    if importlib.util.find_spec(module_name) is None:
        print(f"{argv[0]}: not implemented yet")
        return 0
    module = importlib.import_module(module_name)
    result: int = module.main(list(argv[1:]))
    return result


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

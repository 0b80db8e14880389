"""Per-file counts of a pytest JUnit XML report: passed, failed, xfailed, skipped because
a name is not shipped by jopt (optax_shim), skipped for another reason (optax's own skips,
a pending row of the README's table).

    python -m pytest tests/optax_suite -m '' --junitxml=/tmp/suite.xml
    python tests/optax_suite/tally.py /tmp/suite.xml
"""

from __future__ import annotations

import collections
import sys
import xml.etree.ElementTree as ElementTree

OUTCOMES = ("passed", "failed", "xfailed", "not shipped", "skipped")


def outcome(case: ElementTree.Element) -> str:
    if case.find("failure") is not None or case.find("error") is not None:
        return "failed"
    skipped = case.find("skipped")
    if skipped is None:
        return "passed"
    if skipped.get("type") == "pytest.xfail":
        return "xfailed"
    return "not shipped" if "jopt does not ship" in skipped.get("message", "") else "skipped"


def tally(path: str) -> dict[str, collections.Counter]:
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for case in ElementTree.parse(path).iter("testcase"):
        module = case.get("classname", "").split(".")[-2]
        counts[f"{module}.py"][outcome(case)] += 1
    return counts


def main(path: str) -> None:
    counts = tally(path)
    print("| file | " + " | ".join(OUTCOMES) + " |")
    print("|---|" + "---|" * len(OUTCOMES))
    total: collections.Counter = collections.Counter()
    for name in sorted(counts):
        total.update(counts[name])
        print(f"| {name} | " + " | ".join(str(counts[name][o]) for o in OUTCOMES) + " |")
    print("| total | " + " | ".join(str(total[o]) for o in OUTCOMES) + " |")


if __name__ == "__main__":
    main(sys.argv[1])

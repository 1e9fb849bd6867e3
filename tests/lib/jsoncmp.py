#!/usr/bin/env python3
"""Compare tally's --json output with an expected file.

    jsoncmp.py EXPECTED ACTUAL SCENARIO_DIR

Occurrences of SCENARIO_DIR in the actual output are replaced with
"$SCENARIO" first, so expectations do not depend on where the tree is.
Exit 0 when equal; otherwise print a unified diff of the normalised JSON and
exit 1.
"""
import difflib
import json
import sys


def main():
    expected_path, actual_path, scenario = sys.argv[1:4]
    with open(actual_path) as f:
        text = f.read().replace(scenario.rstrip("/"), "$SCENARIO")
    try:
        actual = json.loads(text) if text.strip() else None
    except ValueError as e:
        print(f"# output is not JSON: {e}\n# {text[:400]!r}")
        return 1
    with open(expected_path) as f:
        expected = json.load(f)
    if actual == expected:
        return 0
    a = json.dumps(expected, indent=2, sort_keys=True).splitlines()
    b = json.dumps(actual, indent=2, sort_keys=True).splitlines()
    for line in difflib.unified_diff(a, b, "expected", "actual", lineterm="", n=2):
        print("# " + line)
    return 1


if __name__ == "__main__":
    sys.exit(main())

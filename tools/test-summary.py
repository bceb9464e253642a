#!/usr/bin/env python3
"""Counts individual test cases in meson's testlog.json: TAP lines from bats and cmocka (which
both run with TAP output), falling back to the meson test's own result when a test printed no
TAP. Prints 'N passed, N failed, N skipped' and exits 1 if anything failed."""
import json
import re
import sys

passed = failed = skipped = 0
with open(sys.argv[1]) as f:
    for line in f:
        t = json.loads(line)
        out = t.get("stdout") or ""
        cases = [l for l in out.splitlines() if re.match(r"^(not )?ok \d+", l)]
        if not cases:
            res = t.get("result")
            if res == "OK":
                passed += 1
            elif res == "SKIP":
                skipped += 1
            else:
                failed += 1
            continue
        for c in cases:
            if c.startswith("not ok"):
                if re.search(r"#\s*(TODO|SKIP|skip)", c):
                    skipped += 1
                else:
                    failed += 1
            elif re.search(r"#\s*(skip|SKIP)", c):
                skipped += 1
            else:
                passed += 1
        # a test binary that crashed after some cases counts as one more failure
        if t.get("result") not in ("OK", "SKIP", "EXPECTEDFAIL") and not any(
            c.startswith("not ok") for c in cases
        ):
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)

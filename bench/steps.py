#!/usr/bin/env python3
"""steps.py LOG [SKIP [COUNT]] - where kimchid's moves spent their time: reads the "timing:"
lines a kimchid running with --log-level debug writes at the end of each move
(task/migrate_job.c), skips the first SKIP of them (the first move sets up the trust), takes
COUNT of the rest (all), and prints each step's median in milliseconds, in the order of the
moves' steps, with its share of the median total."""
import re
import statistics
import sys

log = open(sys.argv[1], encoding="utf-8", errors="replace").read().splitlines()
skip = int(sys.argv[2]) if len(sys.argv) > 2 else 0
end = skip + int(sys.argv[3]) if len(sys.argv) > 3 else None
lines = [l for l in log if ": timing: " in l][skip:end]
calls = [int(m.group(1)) for l in log for m in [re.search(r"libvirt's migration call .* after (\d+) ms", l)] if m][skip:end]
steps, order, totals = {}, [], []
for line in lines:
    body = line.split(": timing: ", 1)[1]
    parts, total = body.rsplit("; total ", 1)
    totals.append(int(total.split()[0]))
    seen = {}
    for m in re.finditer(r"(?:^|, )(.+?) (-?\d+) ms", parts):
        name, ms = m.group(1), int(m.group(2))
        seen[name] = seen.get(name, 0) + ms  # a step met twice in one move counts once, summed
    for name, ms in seen.items():
        if name not in steps:
            steps[name] = []
            order.append(name)
        steps[name].append(ms)
if not totals:
    print("  (no timing lines: is kimchid logging at debug level?)")
    sys.exit(0)
total = statistics.median(totals)
print(f"  kimchid's own timing of {len(totals)} moves (median ms per step; POST to the job's end):")
for name in order:
    med = statistics.median(steps[name])
    if med >= 1:
        print(f"    {med:7.0f}  {100 * med / total:4.1f} %  {name}")
print(f"    {total:7.0f}  total")
if calls:
    call = statistics.median(calls)
    print(f"  of which libvirt's virDomainMigrateToURI3 call: median {call:.0f} ms; kimchid's own: {total - call:.0f} ms")

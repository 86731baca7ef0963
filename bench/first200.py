#!/usr/bin/env python3
"""first200.py PORT CMD... : runs CMD, prints ms from exec to the first 200 (GET /, the UI's
index, which needs no login) and the PID."""
import http.client, subprocess, sys, time

port, cmd = int(sys.argv[1]), sys.argv[2:]
t0 = time.monotonic()
p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
while time.monotonic() - t0 < 30:
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        c.request("GET", "/")
        if c.getresponse().status == 200:
            print(f"{(time.monotonic() - t0) * 1000:.1f} {p.pid}")
            sys.exit(0)
    except OSError:
        time.sleep(0.001)
print(f"timeout {p.pid}")
sys.exit(1)

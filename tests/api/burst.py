#!/usr/bin/env python3
"""burst.py PORT N METHOD PATH [USER:PASSWORD] - sends N requests on one kept-alive HTTP
connection to 127.0.0.1:PORT (Basic credentials when given: read from the environment
variable BURST_CRED instead of argv when the last argument is "-"; a session cookie
instead when BURST_COOKIE holds one, "kimchid_session=...") and prints how many answers had
each status, e.g. "401 100". For tests that need many requests fast."""
import base64
import collections
import http.client
import os
import sys

port, n, method, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
cred = sys.argv[5] if len(sys.argv) > 5 else ""
if cred == "-":
    cred = os.environ.get("BURST_CRED", "")
headers = {"Authorization": "Basic " + base64.b64encode(cred.encode()).decode()} if cred else {}
if os.environ.get("BURST_COOKIE"):
    headers = {"Cookie": os.environ["BURST_COOKIE"], "X-Requested-With": "burst"}
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
seen = collections.Counter()
for _ in range(n):
    conn.request(method, path, body=b"" if method == "POST" else None, headers=headers)
    r = conn.getresponse()
    r.read()
    seen[r.status] += 1
    if r.getheader("Connection", "").lower() == "close":
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
print(" ".join(f"{k} {v}" for k, v in sorted(seen.items())))

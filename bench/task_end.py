#!/usr/bin/env python3
"""task_end.py BASE NETRC PATH BODY-FILE - what a user of the page waits: logs in once (a
session, as the page does; HTTP Basic would cost a PAM login on every request), opens the
event stream (GET /events, as the page does), POSTs BODY-FILE to BASE/PATH and waits for the
task's last frame on the stream. Prints "ID STATUS MS": the task, how it ended, and the ms
from sending the POST to that frame's arrival. The stream is opened before the POST, so no
frame is missed; no polling adds its interval to the figure."""
import http.client
import json
import netrc
import ssl
import sys
import threading
import time
import urllib.parse

base, rc, path, body_file = sys.argv[1:5]
url = urllib.parse.urlsplit(base)
ctx = ssl._create_unverified_context()  # the lab's kimchid certificate is self-signed


def conn(timeout=300):
    return http.client.HTTPSConnection(url.hostname, url.port, context=ctx, timeout=timeout)


user, _, password = netrc.netrc(rc).authenticators(url.hostname)
c = conn()
c.request("POST", "/login", json.dumps({"username": user, "password": password}),
          {"Content-Type": "application/json"})
r = c.getresponse()
r.read()
cookie = r.getheader("Set-Cookie", "").split(";", 1)[0]
if r.status != 200 or not cookie:
    sys.exit(f"task_end.py: login failed ({r.status})")
headers = {"Cookie": cookie, "Content-Type": "application/json"}

ended = {}  # task id -> (status, arrival time)
arrived = threading.Condition()


def listen():
    s = conn()
    s.request("GET", f"{url.path}/events", headers=headers)
    resp = s.getresponse()
    event, data = "", ""
    for raw in resp:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line == "" and event == "task":
            t = json.loads(data)
            if t.get("status") != "running":
                with arrived:
                    ended[t["id"]] = (t["status"], time.monotonic())
                    arrived.notify_all()
            event, data = "", ""
        elif line == "":
            event, data = "", ""


threading.Thread(target=listen, daemon=True).start()
time.sleep(0.3)  # the stream's first frame (ready) before the POST
body = open(body_file, "rb").read()
c = conn()
t0 = time.monotonic()
c.request("POST", f"{url.path}/{path}", body, headers)
r = c.getresponse()
answer = json.loads(r.read() or b"{}")
if r.status != 202:
    sys.exit(f"task_end.py: POST {path} answered {r.status}: {answer}")
tid = answer["id"]
with arrived:
    if not arrived.wait_for(lambda: tid in ended, timeout=600):
        sys.exit(f"task_end.py: task {tid} did not end within 600 s")
status, at = ended[tid]
print(tid, status, round((at - t0) * 1000))

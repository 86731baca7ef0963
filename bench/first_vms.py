#!/usr/bin/env python3
"""first_vms.py PORT USER PWFILE N CMD... : runs CMD (a kimchid serving plain HTTP on PORT) and
measures what a user restarting it waits for: from exec to the first authenticated GET /vms
that lists all N guests. It asks for the UI's index until it answers (the pages), logs in as
USER (password read from PWFILE) at once, then asks for /vms until the whole list comes.
Prints "VMS_MS PAGES_MS LOGIN_MS PID" (LOGIN_MS: when the login's answer came)."""
import http.client, json, subprocess, sys, time

port, user, pwfile, n, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:]
password = open(pwfile).read().strip()
t0 = time.monotonic()
ms = lambda: (time.monotonic() - t0) * 1000
p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def ask(method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path, body, headers or {})
    r = c.getresponse()
    return r.status, r.getheader("Set-Cookie"), r.read()


def fail(why):
    print(f"timeout {p.pid} ({why})")
    sys.exit(1)


while True:
    if ms() > 30000:
        fail("no page")
    try:
        if ask("GET", "/")[0] == 200:
            break
    except OSError:
        time.sleep(0.001)
pages = ms()
status, cookie, _ = ask("POST", "/login", json.dumps({"username": user, "password": password}),
                        {"Content-Type": "application/json"})
if status != 200 or not cookie:
    fail(f"login answered {status}")
login = ms()
cookie = cookie.split(";")[0]
while ms() < 30000:
    status, _, body = ask("GET", "/plugins/kimchi/vms", None, {"Cookie": cookie})
    if status == 200 and len(json.loads(body)) == n:
        print(f"{ms():.1f} {pages:.1f} {login:.1f} {p.pid}")
        sys.exit(0)
    time.sleep(0.005)
fail("no full list")

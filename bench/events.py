#!/usr/bin/env python3
"""events.py - the event stream's figures (make bench).

latency BASE NETRC GUEST VIRSH...: logs in with Basic credentials from NETRC, follows
  BASE/events, and changes GUEST's state 100 times (suspend/resume through one virsh shell,
  the command VIRSH...); prints the median and p99 of the time from sending each change to
  its "vm" frame arriving.
clients BASE COOKIE PID: opens 100 streams (25 from each of 127.0.0.2-5, under kimchid's
  32-per-address cap), then prints kimchid's (PID) resident memory before and with them, and
  the CPU time it used over 10 s while nothing changed.
"""
import base64, json, netrc, os, socket, ssl, statistics, subprocess, sys, threading, time
from urllib.parse import urlparse


def open_stream(base, headers, source=None):
    u = urlparse(base)
    sock = socket.create_connection((u.hostname, u.port), source_address=(source, 0) if source else None)
    if u.scheme == 'https':
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        sock = ctx.wrap_socket(sock, server_hostname=u.hostname)
    lines = [f'GET {u.path}/events HTTP/1.1', f'Host: {u.hostname}', 'Accept: text/event-stream']
    lines += [f'{k}: {v}' for k, v in headers.items()]
    sock.sendall(('\r\n'.join(lines) + '\r\n\r\n').encode())
    f = sock.makefile('rb')
    status = f.readline()
    if b' 200 ' not in status:
        raise SystemExit(f'events: {status!r}')
    while f.readline() not in (b'\r\n', b''):
        pass
    return sock, f


def frames(f):
    """(event, data) pairs from a chunked SSE body (chunk-size lines are skipped)."""
    event = None
    for raw in f:
        line = raw.decode().rstrip('\r\n')
        if line.startswith('event: '):
            event = line[7:]
        elif line.startswith('data: ') and event:
            yield event, line[6:]
            event = None


def latency(base, netrc_path, guest, virsh):
    login, _, password = netrc.netrc(netrc_path).authenticators(urlparse(base).hostname)
    auth = base64.b64encode(f'{login}:{password}'.encode()).decode()
    _, f = open_stream(base, {'Authorization': f'Basic {auth}'})
    arrived = {}
    cond = threading.Condition()

    def reader():
        for ev, data in frames(f):
            if ev == 'vm':
                d = json.loads(data)
                if d['name'] == guest and d.get('vm'):
                    with cond:
                        arrived.setdefault(d['vm']['state'], []).append(time.monotonic())
                        cond.notify_all()

    threading.Thread(target=reader, daemon=True).start()
    sh = subprocess.Popen(virsh, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, bufsize=1)
    times = []
    for i in range(100):
        cmd, state = ('suspend', 'paused') if i % 2 == 0 else ('resume', 'running')
        with cond:
            seen = len(arrived.get(state, []))
        t0 = time.monotonic()
        sh.stdin.write(f'{cmd} {guest}\n')
        with cond:
            if not cond.wait_for(lambda: len(arrived.get(state, [])) > seen, timeout=10):
                raise SystemExit(f'no "{state}" frame within 10 s of {cmd}')
            times.append((arrived[state][seen] - t0) * 1000)
    sh.stdin.close()
    sh.wait()
    times.sort()
    print(f'state change to stream client, 100 changes: median {statistics.median(times):.1f} ms, '
          f'p99 {times[98]:.1f} ms, max {times[-1]:.1f} ms')


def rss_kib(pid):
    with open(f'/proc/{pid}/status') as s:
        return next(int(l.split()[1]) for l in s if l.startswith('VmRSS:'))


def cpu_ticks(pid):
    with open(f'/proc/{pid}/stat') as s:
        fields = s.read().rsplit(')', 1)[1].split()
    return int(fields[11]) + int(fields[12])


def clients(base, cookie, pid):
    pid = int(pid)
    time.sleep(1)
    before = rss_kib(pid)
    socks = [open_stream(base, {'Cookie': cookie}, f'127.0.0.{2 + i // 25}') for i in range(100)]
    for _, f in socks:  # each got its "ready" frame
        next(frames(f))
    time.sleep(1)
    during = rss_kib(pid)
    hz = os.sysconf('SC_CLK_TCK')
    t0 = cpu_ticks(pid)
    time.sleep(10)
    used = (cpu_ticks(pid) - t0) / hz
    print(f'100 stream clients: RSS {before / 1024:.1f} MiB before, {during / 1024:.1f} MiB with them '
          f'(+{(during - before) / 1024:.1f} MiB); CPU over 10 s idle with them: {used:.2f} s')
    for s, _ in socks:
        s.close()


if __name__ == '__main__':
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == 'latency':
        latency(args[0], args[1], args[2], args[3:])
    else:
        clients(*args)

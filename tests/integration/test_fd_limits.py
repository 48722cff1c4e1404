"""File descriptors (issue 16, item 4): at start the CSE raises its soft
RLIMIT_NOFILE as far as max-connections needs and lowers max-connections,
with a warning, when the hard limit is too low; when accept() runs out of
descriptors it neither spins nor floods the log: idle connections make room
for new clients, and with none idle the pending connections are accepted and
closed at once through a spare descriptor."""
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap
from conn_attack import (connect_from, cpu_seconds, drop_closed, log_lines, nofile, open_fds, proc_nofile,
                         raise_own_fd_limit, wait_until_closed)

t = Tap()
ACCEPT_WORDS = ("accept", "refus")


def cpu_over(pid, seconds=2.0):
    c0, w0 = cpu_seconds(pid), time.time()
    time.sleep(seconds)
    return cpu_seconds(pid) - c0, time.time() - w0


def flood(port, attempts, first_bytes=b"", addresses=8):
    """Opens up to `attempts` connections from 127.0.0.2.. (round robin),
    each sending first_bytes; stops at the first connection that cannot be
    made. Returns (connections made, sockets still held)."""
    held, made = [], 0
    for i in range(attempts):
        s = connect_from("127.0.0.%d" % (2 + i % addresses), port, timeout=3.0)
        if s is None:
            break
        made += 1
        if first_bytes:
            try:
                s.send(first_bytes)
            except OSError:
                pass
        held.append(s)
        if len(held) % 200 == 0:
            drop_closed(held)        # the CSE closed them: free our descriptors too
    return made, held


# --- the limit is raised when the hard limit allows it -------------------------
with Cse(preexec_fn=nofile(256, 8192)) as cse:
    soft = proc_nofile(cse.proc.pid)
    t.ok(soft is not None and soft >= 4096, "soft limit 256, hard 8192: raised for max-connections 4096 (%s)" % soft)
    t.ok(soft <= 8192, "…never past the hard limit")
    t.eq(log_lines(cse, "max-connections lowered"), [], "no warning when the limit could be raised")
    t.eq(cse.get("/cse-in").status, 200, "and it serves")

# --- ulimit -n 256: max-connections lowered with a warning ----------------------
with Cse(preexec_fn=nofile(256, 256)) as cse:
    lowered = log_lines(cse, "max-connections lowered")
    t.ok(len(lowered) == 1 and "from 4096 to 192" in lowered[0] and "warn" in lowered[0],
         "ulimit -n 256: max-connections lowered from 4096 to 192 with one warning", lowered)
    t.eq(proc_nofile(cse.proc.pid), 256, "the limit it could not raise is left as it was")
    t.eq(cse.get("/cse-in").status, 200, "and it serves")

# --- out of descriptors under a connection flood -------------------------------
ATTEMPTS = 10000
raise_own_fd_limit(ATTEMPTS + 2000)
own_soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
with Cse(preexec_fn=nofile(1024, 1024), max_connections_per_client=100000,
         http_request_timeout=4000, https_port=0, coap_port=0, coaps_port=0) as cse:
    pid = cse.proc.pid
    # Descriptors run out long before max-connections (768 under 1024): as if
    # something else had taken them.
    fd_cap = open_fds(pid) + 120
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (fd_cap, fd_cap))
    # Wave 1: a flood of connections that send nothing, as in the issue.
    made, held = flood(cse.port, min(ATTEMPTS, own_soft - 500))
    t.ok(made >= min(ATTEMPTS, own_soft - 500) * 0.9, "the flood opened %d connections" % made)
    wait_until_closed(held, 0.5)
    t.ok(len(held) <= fd_cap, "the CSE holds no more than its descriptors allow (%d of %d held)" % (len(held), made))
    r = cse.get("/cse-in")
    t.rsc(r, 2000, 200, "out of descriptors, a new client is served (an idle connection made room)")
    cpu, wall = cpu_over(pid)
    t.ok(cpu < wall * 0.5, "no spin while the flood holds its connections (%.2f s CPU in %.2f s)" % (cpu, wall))

    # Wave 2: every held connection starts a request (none is idle any more),
    # and more connections arrive: they cannot be accepted for good.
    for s in held:
        try:
            s.send(b"GET /cse-in HTTP/1.1\r\n")
        except OSError:
            pass
    time.sleep(0.3)
    made2, held2 = flood(cse.port, 2000, first_bytes=b"G")
    wait_until_closed(held2, 0.5)
    t.ok(made2 > 0 and len(held2) < made2 * 0.1,
         "with nothing idle, new connections are closed at once (%d of %d still open)" % (len(held2), made2))
    cpu, wall = cpu_over(pid)
    t.ok(cpu < wall * 0.5, "no spin out of descriptors with connections pending (%.2f s CPU in %.2f s)" % (cpu, wall))
    # The stalled requests reach their deadline and free the descriptors.
    deadline = time.time() + 8
    r = cse.get("/cse-in", timeout=2)
    while r.status != 200 and time.time() < deadline:
        time.sleep(0.5)
        r = cse.get("/cse-in", timeout=2)
    t.rsc(r, 2000, 200, "once the stalled requests timed out, clients are served again")
    lines = log_lines(cse, *ACCEPT_WORDS)
    t.ok(0 < len(lines) < 50, "the log stays small: %d lines about refusals for %d connections"
         % (len(lines), made + made2), "\n".join(lines[:10]))
    t.ok(any("out of file descriptors" in line for line in lines), "the line says descriptors ran out",
         "\n".join(lines[:10]))
    for s in held + held2:
        s.close()
    t.ok(cse.alive(), "the CSE is still running")
    t.eq(cse.stop(), 0, "the CSE stops cleanly")
t.done()

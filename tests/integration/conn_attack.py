"""Helpers for the connection-limit tests: an attacker that holds many TCP
connections from its own loopback address (127.0.0.2 and up are all
loopback on Linux, so per-address limits can be tested on one host)."""
import os
import resource
import select
import socket
import time


def connect_from(src_ip, port, timeout=3.0):
    """A connection to the CSE from src_ip; None when it could not be made."""
    try:
        return socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(src_ip, 0))
    except OSError:
        return None


def peer_closed(s):
    """True when the CSE has closed s (EOF or reset); what it sent is dropped."""
    timeout = s.gettimeout()
    s.setblocking(False)
    try:
        while True:
            if not s.recv(65536):
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        s.settimeout(timeout)


def drop_closed(socks):
    """Closes and removes the sockets the CSE has closed; returns how many."""
    p = select.poll()
    for s in socks:
        p.register(s, select.POLLIN | select.POLLHUP | select.POLLERR)
    ready = {fd for fd, _ in p.poll(0)}
    gone = [s for s in socks if s.fileno() in ready and peer_closed(s)]
    for s in gone:
        socks.remove(s)
        s.close()
    return len(gone)


def wait_until_closed(socks, seconds):
    """Waits (bounded) until the CSE closed some of socks, then drops those."""
    deadline = time.time() + seconds
    dropped = 0
    while time.time() < deadline:
        dropped += drop_closed(socks)
        time.sleep(0.1)
    return dropped


def raise_own_fd_limit(want):
    """Raises this process' soft descriptor limit towards want; returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if new > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return max(new, soft)


def nofile(soft, hard):
    """A preexec_fn that starts the CSE under RLIMIT_NOFILE (soft, hard)."""
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def proc_nofile(pid):
    """The soft 'Max open files' of a running process."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    return None


def cpu_seconds(pid):
    """User + system CPU time a process has used so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def log_lines(cse, *words):
    """Lines of the CSE's log holding any of words."""
    return [line for line in cse.read_log().splitlines() if any(w in line for w in words)]

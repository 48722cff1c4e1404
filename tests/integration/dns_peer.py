"""A tiny DNS server for the integration tests: UDP on a loopback port, in a
thread. It answers A queries for the names it was given (optionally after a
delay, to show that a lookup never blocks the CSE), an empty answer for other
types of a known name, and NXDOMAIN for every other name.

    dns = DnsPeer({"rx.ironbark.test": "127.0.0.1"}).start()
    ... --dns-servers 127.0.0.1:<dns.port> ...
    dns.stop()
"""
import socket
import struct
import threading
import time

TYPE_A = 1


def _qname(msg, off):
    labels = []
    while msg[off]:
        n = msg[off]
        labels.append(msg[off + 1:off + 1 + n].decode("ascii", "replace"))
        off += 1 + n
    return ".".join(labels).lower(), off + 1


class DnsPeer:
    def __init__(self, names, delays=None):
        self.names = {k.lower().rstrip("."): v for k, v in names.items()}
        self.delays = {k.lower().rstrip("."): v for k, v in (delays or {}).items()}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.queries = []
        self.lock = threading.Lock()
        self.running = False

    @property
    def server(self):
        return "127.0.0.1:%d" % self.port

    def answer(self, msg):
        qid, flags = struct.unpack("!HH", msg[:4])
        name, off = _qname(msg, 12)
        qtype, qclass = struct.unpack("!HH", msg[off:off + 4])
        question = msg[12:off + 4]
        addr = self.names.get(name)
        rcode = 0 if addr else 3
        answers = b""
        if addr and qtype == TYPE_A:
            answers = b"\xc0\x0c" + struct.pack("!HHIH", TYPE_A, 1, 5, 4) + socket.inet_aton(addr)
        head = struct.pack("!HHHHHH", qid, 0x8180 | (flags & 0x0100) | rcode, 1,
                           1 if answers else 0, 0, 0)
        return name, head + question + answers

    def reply_later(self, data, peer, delay):
        time.sleep(delay)
        try:
            self.sock.sendto(data, peer)
        except OSError:
            pass

    def serve(self):
        while self.running:
            try:
                msg, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                name, data = self.answer(msg)
            except (IndexError, struct.error):
                continue
            with self.lock:
                self.queries.append(name)
            delay = self.delays.get(name, 0)
            if delay:
                threading.Thread(target=self.reply_later, args=(data, peer, delay), daemon=True).start()
            else:
                self.sock.sendto(data, peer)

    def asked(self, name):
        with self.lock:
            return self.queries.count(name.lower())

    def start(self):
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.running = False
        self.thread.join(timeout=2)
        self.sock.close()

"""Notification throughput: S subscriptions on one container, N contentInstance
creates, a keep-alive asyncio receiver counting NOTIFY requests. Prints one
line of results. Usage: notify_bench.py [S] [N]  (defaults 1000, 20)."""
import asyncio
import http.client
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from harness import Cse, free_port  # noqa: E402

SUBS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
CINS = int(sys.argv[2]) if len(sys.argv) > 2 else 9


class Counter:
    def __init__(self):
        self.n = 0
        self.first = self.last = None


def run_receiver(port, counter, ready):
    reply = (b"HTTP/1.1 200 OK\r\nX-M2M-RSC: 2000\r\nContent-Length: 0\r\n\r\n")

    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                n = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        n = int(line.split(b":", 1)[1])
                if n:
                    await reader.readexactly(n)
                now = time.time()
                counter.n += 1
                counter.first = counter.first or now
                counter.last = now
                writer.write(reply)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    async def main():
        srv = await asyncio.start_server(handle, "127.0.0.1", port)
        ready.set()
        async with srv:
            await srv.serve_forever()

    asyncio.run(main())


def request(conn, method, path, body=None, ty=None, origin="Cbench"):
    h = {"X-M2M-Origin": origin, "X-M2M-RI": "b", "X-M2M-RVI": "3"}
    if body is not None:
        h["Content-Type"] = "application/json" + (";ty=%d" % ty if ty else "")
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
    r = conn.getresponse()
    r.read()
    return r.status


def main():
    port = free_port()
    counter, ready = Counter(), threading.Event()
    threading.Thread(target=run_receiver, args=(port, counter, ready), daemon=True).start()
    ready.wait(5)
    url = "http://127.0.0.1:%d/n" % port
    with Cse(log_level="warn") as cse:
        c = http.client.HTTPConnection("127.0.0.1", cse.port, timeout=30)
        request(c, "POST", "/cse-in", {"m2m:ae": {"rn": "bench", "api": "Nb", "rr": True, "srv": ["3"]}}, 2)
        request(c, "POST", "/cse-in/bench", {"m2m:cnt": {"rn": "box"}}, 3)
        t0 = time.time()
        for i in range(SUBS):
            st = request(c, "POST", "/cse-in/bench/box",
                         {"m2m:sub": {"rn": "s%d" % i, "nu": [url], "enc": {"net": [3], "chty": [4]}}}, 23)
            if st != 201:
                sys.exit("subscription %d failed: HTTP %d" % (i, st))
        sub_s = time.time() - t0
        verifications = counter.n
        counter.n, counter.first = 0, None
        t1 = time.time()
        for i in range(CINS):
            request(c, "POST", "/cse-in/bench/box", {"m2m:cin": {"con": "v%d" % i}}, 4)
        create_s = time.time() - t1
        want = SUBS * CINS
        deadline = time.time() + 120
        while counter.n < want and time.time() < deadline:
            time.sleep(0.05)
        total_s = (counter.last or time.time()) - t1
        print("subscriptions=%d (created with verification in %.2fs, %d verifications) "
              "cin_creates=%d (%.1f ms each) notifications=%d/%d in %.2fs -> %.0f notifications/s"
              % (SUBS, sub_s, verifications, CINS, 1000 * create_s / CINS, counter.n, want, total_s,
                 counter.n / total_s if total_s > 0 else 0))


main()

"""CoAP answers join the round's group commit with the PostgreSQL store
(docs/decisions.md): a CoAP primitive that waited for the database in a
fiber is answered when the round's commit is done, not after a COMMIT of
its own. On a private PostgreSQL server (pg_server.py), whatever store the
rest of the suite uses:

- Twelve CON CREATEs sent together while a second session locks the
  resources table (so all of them are in flight at once) all answer 2001
  once the lock goes, and fewer COMMITs than requests were made (the
  ironbark_group_commit_batch_size histogram counts commits).
- After a restart of the CSE all twelve are stored."""
import json
import re
import time

import pg_server
from coap_peer import ACK, CON, CONTENT_FORMAT, POST, RawClient, encode, m2m_options, path_options, uint_bytes
from harness import Cse, Tap, curl, wait_for

N = 12
O = "Cgc"
t = Tap()
srv = pg_server.server()
db = srv.new_database()
uri = srv.uri(db)


def commits(cse):
    """Group commits that wrote something, from the metrics endpoint."""
    r = curl("GET", cse.base + "/__metrics__", {"X-M2M-Origin": "CAdmin"})
    m = re.search(r"^ironbark_group_commit_batch_size_count\S* (\d+)", r.text, re.M)
    return int(m.group(1)) if m else None


# The expiry sweep (a plain transaction) commits a pending batch when it
# joins one, outside the histogram: no sweep during the test.
with Cse(db=uri, expiry_interval=3600000) as cse:
    box = cse.ae_with_container(O, ae="gc", cnt="box")
    before = commits(cse)
    t.ok(before is not None, "the metrics endpoint counts group commits", before)
    lock = pg_server.TableLock(srv, db)
    t.ok(lock.held, "a second session holds the resources table")
    client = RawClient(cse.coap_port)
    sent = {}
    for i in range(N):
        mid, token = client.next_mid(), b"g%03d" % i
        payload = json.dumps({"m2m:cin": {"rn": "c%d" % i, "con": str(i)}}).encode()
        opts = path_options(box) + m2m_options(fr=O, rqi="gc%d" % i, ty=4) + [(CONTENT_FORMAT, uint_bytes(50))]
        client.send_raw(encode(CON, POST, mid, token, opts, payload))
        sent[token] = mid
    t.ok(wait_for(lambda: pg_server.waiting_on_lock(srv, db) >= 1, seconds=5), "the first CREATE waits on the lock")
    time.sleep(0.3)   # the other datagrams reach the CSE and queue behind it
    lock.release()
    got = {}
    deadline = time.time() + 20
    while len(got) < N and time.time() < deadline:
        m = client.recv(1.0)
        if m is None:
            continue
        if m.type == CON:   # a separate response (the piggy-back bound passed): ACK it
            client.send_raw(encode(ACK, 0, m.mid))
        if m.code and m.token in sent:
            got[m.token] = m
    client.close()
    t.eq(sorted(got), sorted(sent), "an answer for each of the %d CoAP CREATEs" % N)
    t.eq(sorted(m.rsc for m in got.values()), [2001] * N, "each answers 2001")
    after = commits(cse)
    t.ok(after is not None and 1 <= after - before < N,
         "fewer group commits than CREATEs: the answers joined the round's commit", (before, after))
    t.eq(cse.stop(), 0, "the CSE stops cleanly")
    cse.start()
    stored = [cse.get(box + "/c%d" % i, origin=O) for i in range(N)]
    t.ok(all(r.rsc == 2000 and r.json["m2m:cin"]["con"] == str(i) for i, r in enumerate(stored)),
         "after a restart all %d are stored with their content" % N, [r.rsc for r in stored])
    t.eq(cse.get(box, origin=O).json["m2m:cnt"]["cni"], N, "the container counts them all")
t.done()

"""Keys at rest in the CSE's credential store (docs/security.md, "Keys at
rest"): the PSKs m2m-cse stores never appear in credentials.db in the clear;
each is a version-tagged AES-256-GCM blob under a KEK derived (HKDF-SHA256)
from <data-dir>/credentials-root.key, which is checked here independently
with python3-cryptography; after a restart the stored keys still serve CoAPS
handshakes; a store of plain keys from an earlier version is sealed in place
at first start (logged as a count, never the keys); a root file group or
others may read, a wrong root file, or a missing crypto module stop the start
with a clear message and drop nothing. The CSE runs on SQLite here in every
setup: with a PostgreSQL db the credentials live in the database instead
(test_scale_out_credentials checks them there)."""
import os, shutil, sqlite3, stat, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap
from coap_peer import coap_client
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SECRET = b"rest-secret-7f3a9c"            # coap-client -k takes the key as text
IDENTITY = "rest-key@test.example"
PSK = "%s:%s:Cmeter*" % (IDENTITY, SECRET.hex())
OLD_SECRET = b"old-plain-key-51d2"         # put in the clear by an "earlier version"
OLD_IDENTITY = "old-key@test.example"
LABEL = b"Ironbark CSE credential store KEK v1"   # docs/decisions.md

t = Tap()
work = tempfile.mkdtemp(prefix="ironbark-rest-")


def file_bytes(d):
    out = b""
    for name in ("credentials.db", "credentials.db-wal"):
        p = os.path.join(d, name)
        if os.path.exists(p):
            out += open(p, "rb").read()
    return out


def rows(d):
    db = sqlite3.connect(os.path.join(d, "credentials.db"))
    try:
        return {r[0]: bytes(r[1]) for r in db.execute("SELECT identity, key FROM psk")}
    finally:
        db.close()


def unseal(d, table, identity, blob):
    root = open(os.path.join(d, "credentials-root.key"), "rb").read()
    kek = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=LABEL).derive(root)
    aad = b"\x01" + table.encode() + b"\x00" + identity.encode()
    return AESGCM(kek).decrypt(blob[1:13], blob[13:], aad)


n = [0]


def handshake(cse, secret, identity, what):
    """An AE registers over CoAPS with the PSK (a new originator each time)."""
    n[0] += 1
    ae = '{"m2m:ae":{"rn":"meter%d","api":"Nmeter","rr":false,"srv":["3"]}}' % n[0]
    r = coap_client(cse.coaps_port, "cse-in", "post", dict(fr="Cmeter%d" % n[0], rqi="r-%d" % n[0], rvi="3", ty=2),
                    ae, cf=50, scheme="coaps", extra=["-k", secret.decode(), "-u", identity], timeout=3)
    t.ok(r.code == "2.01" and r.rsc == 2001, "an AE registers over CoAPS with the PSK %s" % what, r)


def refused(d, what, expect, **settings):
    args = Cse(data_dir=d, db=os.path.join(d, "cse.db"), **settings).args()
    p = subprocess.run(args, capture_output=True, text=True, timeout=15)
    log = p.stdout + p.stderr
    t.ok(p.returncode != 0 and expect in log, "%s: the CSE does not start (%s)" % (what, expect), log[-800:])
    return log


# --- a fresh store: keys sealed, usable after a restart -------------------
d = os.path.join(work, "fresh")
os.mkdir(d, 0o700)
with Cse(data_dir=d, db=os.path.join(d, "cse.db"), psk=PSK) as cse:
    handshake(cse, SECRET, IDENTITY, "from the config file")
    log = cse.read_log()
root = os.path.join(d, "credentials-root.key")
t.ok(os.path.exists(root) and stat.S_IMODE(os.stat(root).st_mode) == 0o600 and os.path.getsize(root) == 32,
     "credentials-root.key is made at first start: 32 bytes, mode 0600")
raw = file_bytes(d)
t.ok(len(raw) > 0 and SECRET not in raw and SECRET[:8] not in raw and SECRET[-8:] not in raw,
     "no key bytes in credentials.db (or its WAL)")
t.ok(open(root, "rb").read() not in raw, "the root secret is not in the store either")
blob = rows(d).get(IDENTITY, b"")
t.eq(len(blob), 1 + 12 + len(SECRET) + 16, "the key column is version + nonce + ciphertext + tag")
t.eq(blob[:1], b"\x01", "the blob is tagged version 1")
t.eq(unseal(d, "psk", IDENTITY, blob), SECRET, "HKDF-SHA256(root, label) + AES-256-GCM opens it (python3-cryptography)")
try:
    unseal(d, "psk", "other@test.example", blob)
    t.ok(False, "the identity is part of the associated data")
except Exception:
    t.ok(True, "the identity is part of the associated data")
t.ok(SECRET.hex() not in log and SECRET.decode() not in log, "the key is not in the log")

# Restarted without the key in the configuration: the store's sealed key serves.
with Cse(data_dir=d, db=os.path.join(d, "cse.db")) as cse:
    handshake(cse, SECRET, IDENTITY, "from the sealed store after a restart")

# --- a store of plain keys from an earlier version ------------------------
db = sqlite3.connect(os.path.join(d, "credentials.db"))
db.execute("INSERT INTO psk VALUES (?, ?, ?)", (OLD_IDENTITY, OLD_SECRET, "Cmeter*"))
db.execute("DELETE FROM store_meta")
db.execute("UPDATE psk SET key = ? WHERE identity = ?", (SECRET, IDENTITY))
db.commit()
db.close()
os.unlink(root)                            # an earlier version had none
t.ok(OLD_SECRET in file_bytes(d), "the old-style store holds its keys in the clear")
with Cse(data_dir=d, db=os.path.join(d, "cse.db")) as cse:
    handshake(cse, OLD_SECRET, OLD_IDENTITY, "of a plain store, sealed at start")
    handshake(cse, SECRET, IDENTITY, "of a plain store (second key)")
    log = cse.read_log()
t.ok("credentials: 2 keys sealed" in log, "the conversion is logged as a count", log[-800:])
t.ok(OLD_SECRET.hex() not in log and OLD_SECRET.decode() not in log, "and never the keys")
raw = file_bytes(d)
t.ok(OLD_SECRET not in raw and SECRET not in raw, "after the conversion no key is in the clear")
t.eq(unseal(d, "psk", OLD_IDENTITY, rows(d)[OLD_IDENTITY]), OLD_SECRET, "the converted key is the same key")

# --- refusals: nothing is dropped ----------------------------------------
os.chmod(root, 0o640)
refused(d, "root file readable by the group", "may be read by group or others")
t.eq(stat.S_IMODE(os.stat(root).st_mode), 0o640, "the CSE does not quietly chmod the root file")
os.chmod(root, 0o600)
saved = open(root, "rb").read()
with open(root, "wb") as f:
    f.write(os.urandom(32))
log = refused(d, "a wrong root file", "does not open")
t.ok("another credentials-root.key" in log, "the message names the cause", log[-500:])
t.eq(sorted(rows(d)), sorted([IDENTITY, OLD_IDENTITY]), "no key was dropped")
with open(root, "wb") as f:
    f.write(saved)
refused(d, "no crypto module", "keys are never stored in the clear", jose_module=os.path.join(work, "none.so"))
with Cse(data_dir=d, db=os.path.join(d, "cse.db")) as cse:
    handshake(cse, OLD_SECRET, OLD_IDENTITY, "once the right root file is back")

shutil.rmtree(work, ignore_errors=True)
t.done()

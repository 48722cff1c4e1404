"""Token keys and signed test tokens for the DAS tests, made with
tests/token_tool (the token module's tool): an issuer key, a stranger's
key, the trust file a CSE reads (token-trust-file), and sign(claims)."""
import json
import os
import shutil
import subprocess
import tempfile
import time

from harness import BUILD

TOOL = os.environ.get("TOKEN_TOOL", os.path.join(BUILD, "tests", "token_tool"))
SP = "//ironbark.local"
ISS = SP + "/id-das"
AUD = [SP + "/id-in"]


def tool(*args):
    p = subprocess.run([TOOL] + list(args), capture_output=True, text=True, timeout=20)
    if p.returncode != 0:
        raise RuntimeError("token_tool %s: %s" % (args[0], p.stderr))
    return p.stdout.strip()


class Keys:
    """keys.trust: the trust file naming ISS with keys.issuer's public key;
    keys.stranger: a key nobody trusts."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ironbark-das-keys-")
        self.issuer = self._key("das.jwk")
        self.stranger = self._key("stranger.jwk")
        self.trust = os.path.join(self.dir, "issuers.json")
        with open(self.trust, "w") as f:
            json.dump({"issuers": [{"iss": ISS, "jwk": json.loads(tool("public-jwk", self.issuer))}]}, f)
        self.n = 0

    def _key(self, name):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(tool("new-key"))
        os.chmod(path, 0o600)
        return path

    def claims(self, holder, ris, acop, **kw):
        """Claims of a token for holder granting acop on ris (absolute IDs)."""
        self.n += 1
        now = int(time.time())
        c = {"jti": "t-%d@das.ironbark.local" % self.n, "iss": ISS, "azp": holder, "nbf": now - 60,
             "exp": now + 3600, "aud": AUD, "tkvr": "1",
             "tkps": {"pm": [{"ris": ris, "pv": {"acr": [{"acor": [holder], "acop": acop}]}}]}}
        c.update(kw)
        return c

    def sign(self, claims, key=None):
        path = os.path.join(self.dir, "claims.json")
        with open(path, "w") as f:
            json.dump(claims, f)
        return tool("sign", key or self.issuer, path)

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)

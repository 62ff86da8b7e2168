#!/usr/bin/python3
"""Seals and opens chat envelopes (chat-protocol(7), SEALED ENVELOPES)
with PyNaCl, written from the manual page alone, so that the C code is
checked against a reading of the format that is not its own.

Usage: envelope.py seal|open, with one JSON request on stdin:
  seal: {"uid","from","to","ts","text","sender":{"sk","pk"},
         "recipient":{"pk"}}  ->  {"envelope": "..."}
  open: {"envelope","from","to","reader":{"sk","pk"},"sender":{"pk"}}
         ->  {"uid","from","to","ts","text"}
Keys are hex. Exits 1, with the reason on stderr, when it refuses."""

import base64
import json
import os
import struct
import sys

from nacl import bindings as b
from nacl.exceptions import CryptoError

LABEL = b"chat envelope v1"


def lp(x):
    return struct.pack(">I", len(x)) + x


def fields(m):
    return b"".join(lp(m[k].encode()) for k in ("uid", "from", "to", "ts",
                                                 "text"))


def aad(frm, to, kto, kfrom):
    return LABEL + lp(frm.encode()) + lp(to.encode()) + kto + kfrom


def unb64(s, n=None):
    raw = base64.b64decode(s, validate=True)
    if n is not None and len(raw) != n:
        raise ValueError("wrong length")
    return raw


def seal(req):
    sk = bytes.fromhex(req["sender"]["sk"])
    from_pk = bytes.fromhex(req["sender"]["pk"])
    to_pk = bytes.fromhex(req["recipient"]["pk"])
    body = fields(req)
    sig = b.crypto_sign(LABEL + body, sk)[:b.crypto_sign_BYTES]
    key = os.urandom(32)
    nonce = os.urandom(24)
    kto = b.crypto_box_seal(key, b.crypto_sign_ed25519_pk_to_curve25519(to_pk))
    kfrom = b.crypto_box_seal(key,
                              b.crypto_sign_ed25519_pk_to_curve25519(from_pk))
    ct = b.crypto_aead_xchacha20poly1305_ietf_encrypt(
        body + sig, aad(req["from"], req["to"], kto, kfrom), nonce, key)
    env = {"sealed": 1, "from": req["from"], "to": req["to"],
           "n": base64.b64encode(nonce).decode(),
           "k": {"to": base64.b64encode(kto).decode(),
                 "from": base64.b64encode(kfrom).decode()},
           "c": base64.b64encode(ct).decode()}
    return {"envelope": json.dumps(env, separators=(",", ":"))}


def open_(req):
    env = json.loads(req["envelope"])
    if env.get("sealed") != 1:
        raise ValueError("not a version 1 envelope")
    if env["from"].lower() != req["from"].lower() or \
       env["to"].lower() != req["to"].lower():
        raise ValueError("sender or recipient do not match")
    sk = bytes.fromhex(req["reader"]["sk"])
    pk = bytes.fromhex(req["reader"]["pk"])
    from_pk = bytes.fromhex(req["sender"]["pk"])
    kto = unb64(env["k"]["to"], 80)
    kfrom = unb64(env["k"]["from"], 80)
    key = b.crypto_box_seal_open(kfrom if pk == from_pk else kto,
                                 b.crypto_sign_ed25519_pk_to_curve25519(pk),
                                 b.crypto_sign_ed25519_sk_to_curve25519(sk))
    body = b.crypto_aead_xchacha20poly1305_ietf_decrypt(
        unb64(env["c"]), aad(env["from"], env["to"], kto, kfrom),
        unb64(env["n"], 24), key)
    signed, sig = body[:-b.crypto_sign_BYTES], body[-b.crypto_sign_BYTES:]
    b.crypto_sign_open(sig + LABEL + signed, from_pk)
    out, at = {}, 0
    for k in ("uid", "from", "to", "ts", "text"):
        (n,) = struct.unpack(">I", signed[at:at + 4])
        out[k] = signed[at + 4:at + 4 + n].decode()
        at += 4 + n
    if at != len(signed):
        raise ValueError("bytes after the fields")
    if out["from"] != env["from"] or out["to"] != env["to"]:
        raise ValueError("inner sender or recipient differ")
    return out


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in ("seal", "open"):
        sys.exit("usage: envelope.py seal|open <request.json")
    req = json.load(sys.stdin)
    try:
        out = seal(req) if sys.argv[1] == "seal" else open_(req)
    except (CryptoError, ValueError, KeyError, TypeError) as e:
        sys.exit("envelope.py: %s: %s" % (sys.argv[1], e or type(e).__name__))
    print(json.dumps(out, separators=(",", ":")))


if __name__ == "__main__":
    main()

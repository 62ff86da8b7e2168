#!/usr/bin/python3
"""Seals and opens chat envelopes (chat-protocol(7), SEALED ENVELOPES)
with PyNaCl, written from the manual page alone, so that the C code is
checked against a reading of the format that is not its own.

Usage: envelope.py seal|seal2|seal3|open, with one JSON request on stdin:
  seal: {"uid","from","to","ts","text","sender":{"sk","pk"},
         "recipient":{"pk"}}  ->  {"envelope": "..."}
  seal2: {"messages":[{"uid","from","to","ts","text"}...],
         "sender":{"sk","pk"},"recipient":{"pk"}}  ->  {"envelopes":[...]}
         (version 2, one tree per 16 messages)
  seal3: the same, in version 3
  open: {"envelope","from","to","uid","reader":{"sk","pk"},"sender":{"pk"},
         "other":{"pk"}}  ->  {"uid","from","to","ts","text"}
         ("other": the other side of the message, for versions 2 and 3;
         "uid": the directory's, which version 3 binds)
Keys are hex. Exits 1, with the reason on stderr, when it refuses."""

import base64
import calendar
import datetime
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
    if env.get("sealed") == 3:
        return open3(req, env)
    if env["from"].lower() != req["from"].lower() or \
       env["to"].lower() != req["to"].lower():
        raise ValueError("sender or recipient do not match")
    if env.get("sealed") == 2:
        return open2(req, env)
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


LABEL2 = b"chat envelope v2"


def h(x):
    return b.crypto_generichash_blake2b_salt_personal(x, digest_size=32)


def pair_key(sk, other_pk, from_pk, to_pk):
    xsk = b.crypto_sign_ed25519_sk_to_curve25519(sk)
    dh = b.crypto_scalarmult(xsk, b.crypto_sign_ed25519_pk_to_curve25519(
        other_pk))
    x = b.crypto_sign_ed25519_pk_to_curve25519
    return b.crypto_generichash_blake2b_salt_personal(
        b"chat envelope v2 key" + x(from_pk) + x(to_pk), digest_size=32,
        key=dh)


def aad2(frm, to):
    return LABEL2 + lp(frm.encode()) + lp(to.encode())


def tree(leaves):
    levels = [leaves]
    while len(levels[-1]) > 1:
        lv, up = levels[-1], []
        for i in range(0, len(lv), 2):
            up.append(h(b"\1" + lv[i] + lv[i + 1]) if i + 1 < len(lv)
                      else lv[i])
        levels.append(up)
    return levels


def path_of(levels, i):
    """The partners of leaf i's nodes, from level 0 up."""
    path = b""
    for lv in levels[:-1]:
        if i ^ 1 < len(lv):
            path += lv[i ^ 1]
        i >>= 1
    return path


def sender_key(req):
    """The sender's secret key, and the key of the way to the recipient."""
    sk = bytes.fromhex(req["sender"]["sk"])
    from_pk = bytes.fromhex(req["sender"]["pk"])
    to_pk = bytes.fromhex(req["recipient"]["pk"])
    return sk, pair_key(sk, to_pk, from_pk, to_pk)


def chunks(msgs):
    """The messages 16 at a time: one tree, one signature each."""
    return [msgs[at:at + 16] for at in range(0, len(msgs), 16)]


def seal2(req):
    sk, key = sender_key(req)
    out = []
    for chunk in chunks(req["messages"]):
        levels = tree([h(b"\0" + LABEL2 + fields(m)) for m in chunk])
        sig = b.crypto_sign(LABEL2 + levels[-1][0], sk)[:b.crypto_sign_BYTES]
        for i, m in enumerate(chunk):
            body = fields(m) + bytes([len(chunk), i]) + path_of(levels, i) + \
                sig
            nonce = os.urandom(24)
            ct = b.crypto_aead_xchacha20poly1305_ietf_encrypt(
                body, aad2(m["from"], m["to"]), nonce, key)
            out.append(json.dumps(
                {"sealed": 2, "from": m["from"], "to": m["to"],
                 "n": base64.b64encode(nonce).decode(),
                 "c": base64.b64encode(ct).decode()}, separators=(",", ":")))
    return {"envelopes": out}


def reader_key(req):
    """The key of the message's direction, as the reader computes it with
    the other side's key, and the sender's public key."""
    sk = bytes.fromhex(req["reader"]["sk"])
    pk = bytes.fromhex(req["reader"]["pk"])
    from_pk = bytes.fromhex(req["sender"]["pk"])
    other_pk = bytes.fromhex(req["other"]["pk"])
    to_pk = other_pk if pk == from_pk else pk
    return pair_key(sk, other_pk, from_pk, to_pk), from_pk


def open2(req, env):
    key, from_pk = reader_key(req)
    body = b.crypto_aead_xchacha20poly1305_ietf_decrypt(
        unb64(env["c"]), aad2(env["from"], env["to"]), unb64(env["n"], 24),
        key)
    out, at = {}, 0
    for k in ("uid", "from", "to", "ts", "text"):
        (n,) = struct.unpack(">I", body[at:at + 4])
        out[k] = body[at + 4:at + 4 + n].decode()
        at += 4 + n
    node = h(b"\0" + LABEL2 + body[:at])
    count, index = body[at], body[at + 1]
    at += 2
    c, p = count, index
    while c > 1:
        if p ^ 1 < c:
            sib = body[at:at + 32]
            at += 32
            node = h(b"\1" + (sib + node if p & 1 else node + sib))
        p, c = p >> 1, (c + 1) >> 1
    if len(body) != at + b.crypto_sign_BYTES:
        raise ValueError("body of the wrong length")
    b.crypto_sign_open(body[at:] + LABEL2 + node, from_pk)
    if out["from"] != env["from"] or out["to"] != env["to"]:
        raise ValueError("inner sender or recipient differ")
    return out


LABEL3 = b"chat envelope v3"


def aad3(uid, frm, to):
    return (LABEL3 + lp(frm.lower().encode()) + lp(to.lower().encode()) +
            lp(uid.encode()))


def ms_of(ts):
    t = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")
    return calendar.timegm(t.timetuple()) * 1000 + t.microsecond // 1000


def ts_of(ms):
    t = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def seal3(req):
    sk, key = sender_key(req)
    out = []
    for chunk in chunks(req["messages"]):
        ts = [struct.pack(">Q", ms_of(m["ts"])) for m in chunk]
        levels = tree([h(b"\0" + aad3(m["uid"], m["from"], m["to"]) + t +
                         m["text"].encode()) for m, t in zip(chunk, ts)])
        sig = b.crypto_sign(LABEL3 + levels[-1][0], sk)[:b.crypto_sign_BYTES]
        for i, m in enumerate(chunk):
            body = ts[i] + bytes([len(chunk), i]) + path_of(levels, i) + \
                sig + m["text"].encode()
            nonce = os.urandom(24)
            ct = b.crypto_aead_xchacha20poly1305_ietf_encrypt(
                body, aad3(m["uid"], m["from"], m["to"]), nonce, key)
            out.append(json.dumps(
                {"sealed": 3, "c": base64.b64encode(nonce + ct).decode()},
                separators=(",", ":")))
    return {"envelopes": out}


def open3(req, env):
    key, from_pk = reader_key(req)
    uid, frm, to = req["uid"], req["from"], req["to"]
    raw = unb64(env["c"])
    body = b.crypto_aead_xchacha20poly1305_ietf_decrypt(
        raw[24:], aad3(uid, frm, to), raw[:24], key)
    ts, count, index = body[:8], body[8], body[9]
    if not 1 <= count <= 16 or index >= count:
        raise ValueError("no such leaf")
    at, c, p = 10, count, index
    sibs = []
    while c > 1:
        if p ^ 1 < c:
            sibs.append((p & 1, body[at:at + 32]))
            at += 32
        p, c = p >> 1, (c + 1) >> 1
    sig = body[at:at + b.crypto_sign_BYTES]
    text = body[at + b.crypto_sign_BYTES:]
    if len(sig) != b.crypto_sign_BYTES:
        raise ValueError("body too short")
    node = h(b"\0" + aad3(uid, frm, to) + ts + text)
    for right, sib in sibs:
        node = h(b"\1" + (sib + node if right else node + sib))
    b.crypto_sign_open(sig + LABEL3 + node, from_pk)
    return {"uid": uid, "from": frm, "to": to,
            "ts": ts_of(struct.unpack(">Q", ts)[0]), "text": text.decode()}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in ("seal", "seal2", "seal3",
                                                 "open"):
        sys.exit("usage: envelope.py seal|seal2|seal3|open <request.json")
    req = json.load(sys.stdin)
    try:
        out = {"seal": seal, "seal2": seal2, "seal3": seal3,
               "open": open_}[sys.argv[1]](req)
    except (CryptoError, ValueError, KeyError, TypeError) as e:
        sys.exit("envelope.py: %s: %s" % (sys.argv[1], e or type(e).__name__))
    print(json.dumps(out, separators=(",", ":")))


if __name__ == "__main__":
    main()

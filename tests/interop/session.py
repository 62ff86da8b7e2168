#!/usr/bin/python3
"""A directory session made without our code: PyNaCl for Ed25519 and
X25519, Python's hashlib and hmac for the digests, urllib for HTTP, each
byte as chat-protocol(7) gives it (REQUEST SIGNATURES, Sessions).

session.py SERVER KEYFILE USER opens a session for USER with the key in
KEYFILE (signing POST /session with v1), then reads USER's inbox with an
s1 MAC, with an s2 MAC, and with two MACs the directory must refuse: an
s2 MAC made over another target, and an s2 MAC sent as s1. It prints one
line for each: a name and the HTTP status."""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request

import nacl.bindings
import nacl.public
import nacl.signing


def digest(version, method, target, user, ts, body):
    """What a v1 signature signs and a session MACs (s1, s2)."""
    if version == "s2":
        label = b"chat-signature-s2\n"

        def h(b):
            return hashlib.blake2b(b, digest_size=32).digest()
    else:
        label = b"chat-signature-v1\n"

        def h(b):
            return hashlib.sha256(b).digest()
    fields = [method, target, user, str(ts)]
    return h(label + b"".join(f.encode() + b"\n" for f in fields) + h(body))


def request(server, method, target, header, body=b""):
    req = urllib.request.Request(server + target, method=method,
                                 data=body if method == "POST" else None)
    req.add_header("Chat-Signature", header)
    if method == "POST":
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def main():
    server, keyfile, user = sys.argv[1:4]
    with open(keyfile, encoding="ascii") as f:
        line = [x for x in f.read().splitlines() if not x.startswith("#")][0]
    signing = nacl.signing.SigningKey(base64.b64decode(line)[:32])

    mine = nacl.public.PrivateKey.generate()
    cpk = bytes(mine.public_key)
    body = json.dumps({"username": user,
                       "key": base64.b64encode(cpk).decode()}).encode()
    ts = int(time.time() * 1000)
    sig = signing.sign(digest("v1", "POST", "/session", user, ts,
                              body)).signature
    status, ans = request(server, "POST", "/session",
                          f"v1 {user} {ts} {base64.b64encode(sig).decode()}",
                          body)
    print("session", status)
    if status != 201:
        return 1
    spk = base64.b64decode(ans["key"])
    shared = nacl.bindings.crypto_scalarmult(bytes(mine), spk)
    key = hashlib.blake2b(b"chat-session-v1" + shared + cpk + spk,
                          digest_size=32).digest()
    sid = ans["session"]

    def mac_header(version, sent_as, target, ts):
        d = digest(version, "GET", target, user, ts, b"")
        mac = base64.b64encode(hmac.new(key, d, hashlib.sha256).digest())
        return f"{sent_as} {user} {ts} {sid} {mac.decode()}"

    def inbox():
        return f"/message/inbox/?username={user}&n={os.urandom(8).hex()}"

    cases = [
        ("s1", "s1", "s1", None),
        ("s2", "s2", "s2", None),
        ("s2-other-target", "s2", "s2", "/message/inbox/?username=" + user),
        ("s2-sent-as-s1", "s2", "s1", None),
    ]
    for name, version, sent_as, signed_target in cases:
        target = inbox()
        ts = int(time.time() * 1000)
        header = mac_header(version, sent_as, signed_target or target, ts)
        status, _ = request(server, "GET", target, header)
        print(name, status)
    return 0


if __name__ == "__main__":
    sys.exit(main())

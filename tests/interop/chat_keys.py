#!/usr/bin/python3
"""The keys of a chat key file (CHAT_HOME/keys/NAME.key), computed with
PyNaCl, not with our code: prints the X25519 secret and public keys in
hex, then the Ed25519 public key in base64, one a line."""

import base64
import sys

import nacl.signing


def main():
    with open(sys.argv[1], encoding="ascii") as f:
        line = [x for x in f.read().splitlines() if not x.startswith("#")][0]
    sk = base64.b64decode(line)
    signing = nacl.signing.SigningKey(sk[:32])
    print(bytes(signing.to_curve25519_private_key()).hex())
    print(bytes(signing.verify_key.to_curve25519_public_key()).hex())
    print(base64.b64encode(bytes(signing.verify_key)).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""The other side of tests/interop/noise-peer.c: wire protocol v2 (the
preamble, frames and Noise handshake of chat-protocol(7)) with the Noise
of dissononce, an implementation not ours. Same flags and behaviour:
sends standard input as the plaintext stream, prints what comes back;
a peer that closes before its first frame has refused the handshake.
Run with Debian's /usr/bin/python3 and python3-dissononce."""

import argparse
import json
import socket
import struct
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519
from dissononce.cipher.chachapoly import ChaChaPolyCipher
from dissononce.dh.x25519.private import PrivateKey
from dissononce.dh.x25519.public import PublicKey
from dissononce.dh.x25519.x25519 import X25519DH
from dissononce.hash.blake2b import Blake2bHash
from dissononce.hash.sha256 import SHA256Hash
from dissononce.processing.handshakepatterns.interactive.IK import \
    IKHandshakePattern
from dissononce.processing.handshakepatterns.interactive.XX import \
    XXHandshakePattern
from dissononce.processing.impl.cipherstate import CipherState
from dissononce.processing.impl.handshakestate import HandshakeState
from dissononce.processing.impl.symmetricstate import SymmetricState

PROG = "noise_peer.py"
PLAIN_MAX = 65535 - 16
PATTERNS = {b"I": IKHandshakePattern, b"X": XXHandshakePattern}
HASHES = {b"S": SHA256Hash, b"B": Blake2bHash}
EX_USAGE, EX_PROTOCOL = 64, 76


class Refused(Exception):
    """The peer broke the protocol or is not who it must be."""


def die(code, what, why):
    print(f"{PROG}: {what}: {why}", file=sys.stderr)
    sys.exit(code)


def public_of(secret):
    key = x25519.X25519PrivateKey.from_private_bytes(secret).public_key()
    return key.public_bytes(serialization.Encoding.Raw,
                            serialization.PublicFormat.Raw)


def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        part = sock.recv(n - len(data))
        if not part:
            raise Refused("connection closed" if not data else "cut short")
        data += part
    return data


def read_frame(sock):
    (length,) = struct.unpack(">H", read_exactly(sock, 2))
    if length == 0:
        raise Refused("frame of length zero")
    return read_exactly(sock, length)


def frame(body):
    return struct.pack(">H", len(body)) + body


def handshake(sock, initiator, pattern, hashname, secret, pin):
    """Runs the handshake; returns (send, receive) cipher states."""
    if initiator:
        preamble = b"\x02" + pattern + hashname + b"\x00"
        sock.sendall(preamble)
    else:
        preamble = read_exactly(sock, 4)
        pattern, hashname = preamble[1:2], preamble[2:3]
        if (preamble[0:1] != b"\x02" or preamble[3:4] != b"\x00" or
                pattern not in PATTERNS or hashname not in HASHES):
            raise Refused("not a v2 preamble")
    dh = X25519DH()
    hs = HandshakeState(SymmetricState(CipherState(ChaChaPolyCipher()),
                                       HASHES[hashname]()), dh)
    rs = None
    if initiator and pattern == b"I":
        rs = PublicKey(pin)
    hs.initialize(PATTERNS[pattern](), initiator, b"chat v2" + preamble,
                  s=dh.generate_keypair(PrivateKey(secret)), rs=rs)
    writing = initiator
    while True:
        if writing:
            buf = bytearray()
            result = hs.write_message(b"", buf)
            sock.sendall(frame(bytes(buf)))
        else:
            payload = bytearray()
            try:
                result = hs.read_message(read_frame(sock), payload)
            except Refused:
                raise
            except Exception as e:
                raise Refused(f"message refused: {e!r}") from e
            if payload:
                raise Refused("a handshake payload")
            if (hs.rs is not None and pin is not None and
                    hs.rs.data != pin):
                raise Refused("peer key is not the pinned key")
        writing = not writing
        if result is not None:
            send, receive = result if initiator else result[::-1]
            return send, receive


def answer(sock, send, receive, data):
    """Plays chat-listen: prints each line received; answers the hello
    with the first line of data, each msg with its ack."""
    hello = data.split(b"\n")[0] + b"\n"
    out = sys.stdout.buffer
    pending = b""
    try:
        while True:
            try:
                body = read_frame(sock)
            except Refused:
                break
            pending += receive.decrypt_with_ad(b"", body)
            reply = b""
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                out.write(line + b"\n")
                obj = json.loads(line)
                if obj.get("type") == "hello":
                    reply += hello
                elif obj.get("type") == "msg":
                    reply += json.dumps({"type": "ack", "uid": obj["uid"]},
                                        separators=(",", ":")).encode() + b"\n"
            out.flush()
            if reply:
                sock.sendall(frame(send.encrypt_with_ad(b"", reply)))
    except Exception as e:
        die(EX_PROTOCOL, "frame", f"refused: {e!r}")
    sock.close()
    return 0


def main():
    ap = argparse.ArgumentParser(prog=PROG)
    ap.add_argument("-k", dest="secret")
    ap.add_argument("-r", dest="peer")
    ap.add_argument("-t", dest="seconds", type=float, default=10)
    ap.add_argument("-l", dest="listen", action="store_true")
    ap.add_argument("-c", dest="port", type=int)
    ap.add_argument("-p", dest="pattern", choices=["IK", "XX"], default="XX")
    ap.add_argument("-H", dest="hash", choices=["SHA256", "BLAKE2b"],
                    default="SHA256")
    ap.add_argument("--answer", action="store_true",
                    help="a chat listener: standard input's first line "
                    "answers the hello, an ack answers each msg")
    ap.add_argument("--public", metavar="SECRET",
                    help="print the public key of SECRET and exit")
    args = ap.parse_args()
    if args.public:
        print(public_of(bytes.fromhex(args.public)).hex())
        return 0
    if args.secret is None or args.listen == (args.port is not None):
        ap.print_usage(sys.stderr)
        return EX_USAGE
    secret = bytes.fromhex(args.secret)
    pin = bytes.fromhex(args.peer) if args.peer else None
    data = sys.stdin.buffer.read()

    if args.listen:
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)
        lsock.settimeout(args.seconds)
        print(json.dumps({"type": "listening",
                          "port": lsock.getsockname()[1]},
                         separators=(",", ":")), flush=True)
        sock, _ = lsock.accept()
        lsock.close()
    else:
        sock = socket.create_connection(("127.0.0.1", args.port),
                                        timeout=args.seconds)
    sock.settimeout(args.seconds)
    try:
        send, receive = handshake(sock, not args.listen,
                                  args.pattern[0].encode(),
                                  args.hash[0].encode(), secret, pin)
    except (Refused, OSError) as e:
        die(EX_PROTOCOL, "handshake", e)
    if args.answer:
        return answer(sock, send, receive, data)
    # Many lines to a frame: the stream cut in the largest pieces.
    try:
        for off in range(0, len(data), PLAIN_MAX):
            sock.sendall(frame(send.encrypt_with_ad(
                b"", data[off:off + PLAIN_MAX])))
        sock.shutdown(socket.SHUT_WR)
    except OSError as e:
        die(EX_PROTOCOL, "handshake", e)
    out = sys.stdout.buffer
    heard = False
    while True:
        try:
            head = sock.recv(2, socket.MSG_WAITALL)
            if not head and not heard:
                die(EX_PROTOCOL, "handshake", "connection closed")
            if not head:
                break
            if len(head) < 2:
                raise Refused("cut short")
            (length,) = struct.unpack(">H", head)
            if length <= 16:
                raise Refused("frame too short")
            out.write(receive.decrypt_with_ad(b"", read_exactly(sock,
                                                                length)))
            heard = True
        except OSError as e:
            die(EX_PROTOCOL, "handshake" if not heard else "frame", e)
        except Refused as e:
            die(EX_PROTOCOL, "frame", e)
        except Exception as e:
            die(EX_PROTOCOL, "frame", f"refused: {e!r}")
    out.flush()
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

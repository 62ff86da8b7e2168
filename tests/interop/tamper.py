#!/usr/bin/python3
"""A proxy for one wire v2 connection that alters the sender's stream:
it passes the preamble and handshake, then, counting the sender's
transport frames from 0 (the hello), drops, repeats, swaps, cuts or
flips the frame given. Prints {"type":"listening","port":N} first.

usage: tamper.py MODE FRAME TARGET_PORT
MODE: replay (frame sent twice), reorder (FRAME and FRAME+1 swapped),
truncate (half of FRAME, then a close), flip (a bit of FRAME changed),
pass (nothing altered)."""

import json
import socket
import struct
import sys
import threading


def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        part = sock.recv(n - len(data))
        if not part:
            return None
        data += part
    return data


def read_frame(sock):
    head = read_exactly(sock, 2)
    if head is None:
        return None
    (length,) = struct.unpack(">H", head)
    body = read_exactly(sock, length)
    return None if body is None else head + body


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def main():
    mode, target, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    lsock.settimeout(20)
    print(json.dumps({"type": "listening", "port": lsock.getsockname()[1]}),
          flush=True)
    client, _ = lsock.accept()
    lsock.close()  # one connection: a reconnect finds nobody
    client.settimeout(20)
    server = socket.create_connection(("127.0.0.1", port), timeout=20)
    threading.Thread(target=pipe, args=(server, client), daemon=True).start()
    preamble = read_exactly(client, 4)
    server.sendall(preamble)
    hs_frames = 1 if preamble[1:2] == b"I" else 2
    for _ in range(hs_frames):
        server.sendall(read_frame(client))
    n, held = 0, None
    while True:
        f = read_frame(client)
        if f is None:
            break
        if n == target and mode == "replay":
            server.sendall(f + f)
        elif n == target and mode == "reorder":
            held = f
        elif n == target + 1 and held is not None:
            server.sendall(f + held)
            held = None
        elif n == target and mode == "truncate":
            server.sendall(f[:len(f) // 2])
            break
        elif n == target and mode == "flip":
            server.sendall(f[:-1] + bytes([f[-1] ^ 1]))
        else:
            server.sendall(f)
        n += 1
    print(json.dumps({"type": "done", "frames": n}), flush=True)
    try:
        server.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    server.settimeout(5)
    try:
        while server.recv(65536):
            pass
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

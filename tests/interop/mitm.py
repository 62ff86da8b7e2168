#!/usr/bin/python3
"""A man in the middle of wire v2, with dissononce's Noise and keys of
its own: it answers the sender's handshake as the listener, opens its
own to the real listener, and relays the plaintext both ways, re-
encrypted. Takes as many connections as come, one at a time; prints
{"type":"listening","port":N} first, and a line per relayed stream.

usage: mitm.py SECRET_HEX TARGET_PORT"""

import json
import socket
import struct
import sys
import threading

from noise_peer import Refused, handshake, read_frame, frame


def relay(src, dec, dst, enc, log, name):
    try:
        while True:
            data = dec.decrypt_with_ad(b"", read_frame(src))
            log.append((name, data))
            dst.sendall(frame(enc.encrypt_with_ad(b"", data)))
    except (Refused, OSError, Exception):
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def main():
    secret, port = bytes.fromhex(sys.argv[1]), int(sys.argv[2])
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)
    lsock.settimeout(20)
    print(json.dumps({"type": "listening", "port": lsock.getsockname()[1]}),
          flush=True)
    while True:
        try:
            client, _ = lsock.accept()
        except OSError:
            break
        client.settimeout(10)
        try:
            c_send, c_recv = handshake(client, False, None, None, secret,
                                       None)
        except (Refused, OSError) as e:
            print(json.dumps({"type": "refused", "why": str(e)}), flush=True)
            client.close()
            continue
        server = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            s_send, s_recv = handshake(server, True, b"X", b"S", secret, None)
        except (Refused, OSError) as e:
            print(json.dumps({"type": "refused", "why": str(e)}), flush=True)
            client.close()
            server.close()
            continue
        log = []
        t = threading.Thread(target=relay, args=(server, s_recv, client,
                                                 c_send, log, "listener"))
        t.start()
        relay(client, c_recv, server, s_send, log, "sender")
        t.join()
        print(json.dumps({"type": "relayed", "chunks": len(log)}), flush=True)
        client.close()
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""TURN-over-TCP clients that reset their connection while the relay is
relaying a peer's flood to them (it_tcp_reset.sh).

usage: tcp_reset.py HOST PORT USER PASS ROUNDS

Each round: connect, Allocate with long-term credentials, CreatePermission
for a local UDP peer, let the peer flood the relayed address for 50 ms while
the client reads nothing, then reset (SO_LINGER 0) in the middle of more.
Prints "done N" when every round allocated; exits 1 when the server stops
answering (the failure the test looks for)."""
import hashlib
import hmac
import os
import socket
import struct
import sys
import time

MAGIC = 0x2112A442


def attr(t, v):
    return struct.pack('!HH', t, len(v)) + v + b'\0' * ((4 - len(v) % 4) % 4)


def message(mtype, attrs, key=None):
    tid = os.urandom(12)
    body = b''.join(attrs)
    if key:
        hdr = struct.pack('!HHI', mtype, len(body) + 24, MAGIC) + tid
        body += attr(0x0008, hmac.new(key, hdr + body, hashlib.sha1).digest())
    return struct.pack('!HHI', mtype, len(body), MAGIC) + tid + body


def read_exact(s, n):
    b = b''
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b


def answer(s):
    t, length, _ = struct.unpack('!HHI', read_exact(s, 20)[:8])
    body = read_exact(s, length)
    attrs, i = {}, 0
    while i < length:
        at, al = struct.unpack('!HH', body[i:i + 4])
        attrs[at] = body[i + 4:i + 4 + al]
        i += 4 + al + (4 - al % 4) % 4
    return t, attrs


def xor_addr(v):
    port = struct.unpack('!H', v[2:4])[0] ^ (MAGIC >> 16)
    ip = struct.unpack('!I', v[4:8])[0] ^ MAGIC
    return socket.inet_ntoa(struct.pack('!I', ip)), port


def xor_peer(ip, port):
    a = struct.unpack('!I', socket.inet_aton(ip))[0] ^ MAGIC
    return attr(0x0012, struct.pack('!BBHI', 0, 1, port ^ (MAGIC >> 16), a))


def main():
    host, port, user, pw, rounds = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind((host, 0))
    blob = b'x' * 1000
    udp = attr(0x0019, b'\x11\0\0\0')
    for r in range(rounds):
        try:
            s = socket.create_connection((host, port), timeout=5)
            s.sendall(message(0x0003, [udp]))
            _, a = answer(s)
            realm, nonce = a[0x0014], a[0x0015]
            key = hashlib.md5(user.encode() + b':' + realm + b':' + pw.encode()).digest()
            auth = [attr(0x0006, user.encode()), attr(0x0014, realm), attr(0x0015, nonce)]
            s.sendall(message(0x0003, [udp] + auth, key))
            t, a = answer(s)
            if t != 0x0103:
                print(f'round {r}: Allocate answered {t:#x}')
                return 1
            relay = xor_addr(a[0x0016])
            s.sendall(message(0x0008, [xor_peer(*peer.getsockname())] + auth, key))
            t, _ = answer(s)
            if t != 0x0108:
                print(f'round {r}: CreatePermission answered {t:#x}')
                return 1
        except (OSError, EOFError) as e:
            print(f'round {r}: the server stopped answering: {e!r}')
            return 1
        stop = time.monotonic() + 0.05
        while time.monotonic() < stop:
            try:
                peer.sendto(blob, relay)
            except OSError:
                pass
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        for k in range(200):
            try:
                peer.sendto(blob, relay)
            except OSError:
                pass
            if k == 20:
                s.close()
    print(f'done {rounds}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/env python3
"""bench/csock_chain.py: what client-sockets=connected costs the datagrams
that are NOT on a connected socket (new clients, challenges, Binding).

Every connected UDP socket bound to the listening address and port sits in
the kernel's hash chain for that address and port; a datagram for the
listener walks the chain. This opens a listener (SO_REUSEADDR, as ternd's in
connected mode) and N sockets beside it, each connected to its own remote
port, then times send + receive of datagrams from an unrelated client to
the listener. Loopback only; everything is closed at the end.

    bench/csock_chain.py [--counts 0,1000,2000,4000] [--datagrams 20000] [--ip 127.0.0.1]
"""
import argparse
import resource
import socket
import time


def one(n, count, ip):
    socks = []
    lst = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind((ip, 0))
    port = lst.getsockname()[1]
    try:
        for i in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((ip, port))
            s.connect(("127.0.0.2", 10000 + i))
            socks.append(s)
        cl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        cl.bind(("127.0.0.3", 0))
        msg = b"x" * 100
        for _ in range(1000):  # warm-up
            cl.sendto(msg, (ip, port))
            lst.recv(2048)
        t0 = time.perf_counter()
        for _ in range(count):
            cl.sendto(msg, (ip, port))
            lst.recv(2048)
        dt = time.perf_counter() - t0
        cl.close()
        return dt / count * 1e6
    finally:
        for s in socks:
            s.close()
        lst.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--counts", default="0,1000,2000,4000")
    ap.add_argument("--datagrams", type=int, default=20000)
    ap.add_argument("--ip", default="127.0.0.1")
    a = ap.parse_args()
    counts = [int(x) for x in a.counts.split(",")]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(counts) + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    print("connected sockets beside the listener | µs per datagram to the listener (send + receive)")
    base = None
    for n in counts:
        us = one(n, a.datagrams, a.ip)
        base = base or us
        print(f"{n:>8} | {us:8.2f} ({us / base:.1f}x)")


if __name__ == "__main__":
    main()

"""Receive datagrams on a unix socket and append each to a file, one line
per datagram (newlines inside one shown as '|'). Stands in for systemd's
notification socket and for syslog's /dev/log in the service tests.
Usage: dgram_sink.py SOCKET_PATH OUT_FILE SECONDS"""
import os
import socket
import sys
import time

path, out, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)  # a server that dropped privileges still writes to it
deadline = time.monotonic() + seconds
with open(out, "a", buffering=1) as f:
    f.write("# listening\n")
    while time.monotonic() < deadline:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            data = s.recv(65536)
        except socket.timeout:
            continue
        f.write("%.3f %s\n" % (time.monotonic(), data.decode("utf-8", "replace").strip("\n").replace("\n", "|")))

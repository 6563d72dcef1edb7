#!/usr/bin/python3
"""Stands in for systemd's notify socket (sd_notify(3)): an AF_UNIX datagram socket at argv[1].

Prints one line per datagram: "<sender pid> <stopped> <state>", the state's newlines written as \\n.
With argv[2] == "stop-on-ready", a datagram carrying READY=1 first SIGSTOPs its sender (stopped = 1),
so the test sees the world exactly as it was when the daemon declared itself ready; the test sends
SIGCONT. The sender's pid comes from the kernel (SO_PASSCRED), not from the daemon.
"""
import os
import signal
import socket
import struct
import sys

path = sys.argv[1]
stop_on_ready = len(sys.argv) > 2 and sys.argv[2] == "stop-on-ready"
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
sock.bind(path)
print("listening", flush=True)
while True:
    data, ancdata, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(struct.calcsize("3i")))
    pid = 0
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("3i", payload[:12])[0]
    state = data.decode("utf-8", "replace")
    stopped = 0
    if stop_on_ready and pid > 0 and "READY=1" in state.split("\n"):
        os.kill(pid, signal.SIGSTOP)
        stopped = 1
    print(pid, stopped, state.replace("\\", "\\\\").replace("\n", "\\n"), flush=True)

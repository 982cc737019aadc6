"""A real OpenSSH server on 127.0.0.1 for the SSH tests of ``run_tool``, and two helpers.

Used by the ``sshd`` fixture of ``tests/bench/conftest.py``: key login for the current
user only, sessions get ``TMPDIR`` = a fresh directory, so the remote ``mktemp`` files land
there and the tests can check that they are removed.
"""

import os
import socket


def processes_mentioning(text):
    """Command lines of running processes that contain ``text`` (read from /proc, nothing killed)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(cmdline)
    return found


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SSHServer:
    def __init__(self, port, user, key, remote_tmp):
        self.port, self.user, self.key, self.remote_tmp = port, user, key, remote_tmp
        self.target = f"{user}@127.0.0.1"
        self.options = (
            "-i", str(key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes",
        )

    def kwargs(self):
        return {"ssh": self.target, "port": self.port, "ssh_options": self.options}

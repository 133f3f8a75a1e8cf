#!/usr/bin/env python3
"""Runs `cloakroom users add` on a pseudo-terminal, waits until it has turned echo off for the
password prompt, types Ctrl-C, and reports what the terminal is left with.

Usage: interrupt-prompt.py BINARY USERS_FILE
Prints one line: `echo_off_at_prompt=B echo_after=B status=N` (N: the exit status, or minus
the signal that ended the process).
"""
import os
import pty
import select
import sys
import termios
import time

binary, users = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    os.execv(binary, [binary, "users", "add", "grace", "--users-file", users])


def echo():
    return bool(termios.tcgetattr(fd)[3] & termios.ECHO)


deadline = time.time() + 20
echo_off = False
while time.time() < deadline and not echo_off:
    ready, _, _ = select.select([fd], [], [], 0.05)
    if ready:
        os.read(fd, 1024)
    echo_off = not echo()
os.write(fd, b"\x03")
_, status = os.waitpid(pid, 0)
code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)
print(f"echo_off_at_prompt={echo_off} echo_after={echo()} status={code}")

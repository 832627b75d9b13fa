"""Runs a program in a pseudo-terminal, as a person at a terminal would, and prints what the terminal showed.

Usage: python3 pty-session.py <input file> <program> [arguments...]
Each line of the input file is typed after the program has printed something and gone quiet (it waits at its
prompt); the terminal is closed for writing (Ctrl+D) after the last line. Exits with the program's exit code.
Only for tests: HostProcessTests uses it to drive llmcpu's interactive session.
"""
import os
import pty
import select
import sys
import time

QUIET_SECONDS = 0.5
TIMEOUT_SECONDS = 120


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        lines = f.read().splitlines()
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(sys.argv[2], sys.argv[2:])
    shown = bytearray()
    deadline = time.monotonic() + TIMEOUT_SECONDS
    last_output = time.monotonic()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break  # the program ended and closed the terminal
            if not data:
                break
            shown += data
            last_output = time.monotonic()
        elif shown and time.monotonic() - last_output > QUIET_SECONDS:
            # Quiet after output: the program waits for input.
            if lines:
                os.write(fd, (lines.pop(0) + "\r").encode())
            else:
                os.write(fd, b"\x04")  # Ctrl+D: end of input
            last_output = time.monotonic()
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(shown.decode("utf-8", "replace"))
    sys.exit(os.waitstatus_to_exitcode(status))


main()

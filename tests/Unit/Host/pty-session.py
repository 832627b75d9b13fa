"""Runs a program in a pseudo-terminal, as a person at a terminal would, and prints what the terminal showed.

Usage: python3 pty-session.py <input file> <program> [arguments...]
Each line of the input file is typed after the program has printed something and gone quiet (it waits at its
prompt, or runs without printing); a line that is exactly ^C is typed as Ctrl+C, and a line "#wait TEXT" types
nothing but holds the next line until TEXT has been shown since the line before was typed. The terminal is closed
for writing (Ctrl+D) after the last line. Exits with the program's exit code.
Only for tests: HostProcessTests uses it to drive llmcpu's interactive session.
"""
import os
import pty
import select
import signal
import sys
import time

QUIET_SECONDS = 0.5
TIMEOUT_SECONDS = 120


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        lines = f.read().splitlines()
    pid, fd = pty.fork()
    if pid == 0:
        # As a terminal's foreground job has it, even where this script was started with SIGINT ignored.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.execvp(sys.argv[2], sys.argv[2:])
    shown = bytearray()
    typed_at = 0
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
            if lines and lines[0].startswith("#wait "):
                if lines[0][len("#wait "):].encode() in shown[typed_at:]:
                    lines.pop(0)
                continue
            if lines:
                line = lines.pop(0)
                os.write(fd, b"\x03" if line == "^C" else (line + "\r").encode())
                typed_at = len(shown)
            else:
                os.write(fd, b"\x04")  # Ctrl+D: end of input
            last_output = time.monotonic()
    if time.monotonic() >= deadline:
        os.kill(pid, signal.SIGKILL)  # a program still waiting at the deadline would otherwise be waited for forever
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(shown.decode("utf-8", "replace"))
    sys.exit(os.waitstatus_to_exitcode(status))


main()

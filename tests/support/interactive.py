"""An app that uses its terminal, for hot's tests of `[run] stdin = "app"`.

    reader     prints `ready`, then `got V: LINE` for every line it reads, `eof V` at the end
    screen     switches its terminal to raw mode and the alternate screen, hides the cursor,
               turns on mouse reporting, draws `frame V`; on `x` it undoes all that itself
    interrupt  on SIGINT prints `interrupted V` and exits 0
    stubborn   on SIGINT prints `ignored V` and goes on
    prompt     as a line editor does: raw mode, cursor shown, `prompt V> `, echoes keys

MODE `file` reads the mode from src/mode.txt. Every mode reports a resize (`size COLSxROWS`).
V is the content of src/version.txt. Every mode first prints its terminal's settings
(`stty -g`), so a test can compare what two restarts started with.
"""

import os
import signal
import subprocess
import sys
import termios
import time
import tty

mode = sys.argv[1]
if mode == "file":
    with open("src/mode.txt") as f:
        mode = f.read().strip()
with open("src/version.txt") as f:
    version = f.read().strip()


def say(text):
    # \r\n: right in raw mode too, and harmless in cooked mode.
    os.write(1, (text + "\r\n").encode())


def resized(*_):
    size = os.get_terminal_size(0)
    say(f"size {size.columns}x{size.lines}")


def interrupted(*_):
    say(f"interrupted {version}")
    sys.exit(0)


# Before `ready`: a key typed (or a resize) as soon as the app says it is ready finds its
# handler in place.
signal.signal(signal.SIGWINCH, resized)
if mode == "interrupt":
    signal.signal(signal.SIGINT, interrupted)
elif mode == "stubborn":
    signal.signal(signal.SIGINT, lambda *_: say(f"ignored {version}"))

settings = subprocess.run(["stty", "-g"], stdin=0, capture_output=True, text=True).stdout.strip()
say(f"ready {version} tty={os.isatty(0)} stty={settings or '-'}")

if mode == "reader":
    for line in sys.stdin:
        say(f"got {version}: {line.rstrip()}")
    say(f"eof {version}")
elif mode == "screen":
    saved = termios.tcgetattr(0)
    tty.setraw(0)
    os.write(1, b"\x1b[?1049h\x1b[?25l\x1b[?1000h\x1b[2J\x1b[H" + f"frame {version}".encode())
    while os.read(0, 1) != b"x":
        pass
    termios.tcsetattr(0, termios.TCSANOW, saved)
    os.write(1, b"\x1b[?1000l\x1b[?25h\x1b[?1049l")
    say(f"left the screen {version}")
    while True:
        time.sleep(1)
elif mode == "prompt":
    tty.setraw(0)
    os.write(1, f"prompt {version}> ".encode())
    while True:
        os.write(1, os.read(0, 1))
elif mode in ("interrupt", "stubborn"):
    while True:
        time.sleep(1)

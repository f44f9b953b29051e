"""An app that leaves partial lines (no newline yet) on stdout and stderr while it runs, and
ends them when it is stopped. hot's --json events must never be glued onto them."""
import os
import signal
import sys
import time


def finish(signum, frame):
    sys.stdout.write(" ...rest of the out line\n")
    sys.stderr.write(" ...rest of the err line\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


signal.signal(signal.SIGTERM, finish)
sys.stdout.write("partial out line")
sys.stdout.flush()
sys.stderr.write("partial err line")
sys.stderr.flush()
with open(os.path.join("tmp", "partial-%d" % os.getpid()), "w"):
    pass
while True:
    time.sleep(1)

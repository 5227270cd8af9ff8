"""Ignores SIGTERM, starts a helper process, then sleeps forever before training."""

import signal
import subprocess
import sys
import time

signal.signal(signal.SIGTERM, signal.SIG_IGN)
helper = subprocess.Popen(
    [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"]
)
print("helper", helper.pid, flush=True)
time.sleep(600)

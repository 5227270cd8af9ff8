"""Hangs in pure Python before any training: a wait loop for a file that never comes (no hook is ever
reached). ``hang_in_training.py`` spins in a busy loop instead."""

import os
import time

while not os.path.exists("a file that never comes"):
    time.sleep(0.2)

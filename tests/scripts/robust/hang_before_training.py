"""Hangs in pure Python before any training (a busy loop: no hook is ever reached)."""

while True:
    pass

"""``python -m fitdoctor``."""

from fitdoctor.cli import main

main()

"""fitdoctor: a diagnostic linter for PyTorch training setups."""

__version__ = "0.1.0"

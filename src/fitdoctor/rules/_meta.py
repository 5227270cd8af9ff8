"""The meta findings: when the check itself could not run. They have catalog entries (``rules/script-crashed.toml``,
``no-training-step.toml``, ``unsupported-setup.toml``) but no check: the capture raises them."""

#: The script raised an exception before the capture could stop it.
SCRIPT_CRASHED = "FD901"
#: No training step could be watched.
NO_TRAINING_STEP = "FD902"
#: What the script trains can't be analysed (yet).
UNSUPPORTED_SETUP = "FD903"
#: A rule the capture raises itself when its case leaves nothing to analyse: a script that steps a learning-rate
#: scheduler but never its optimizer (``rules/scheduler-misuse.toml``; its other case is a check).
SCHEDULER_MISUSE = "FD506"

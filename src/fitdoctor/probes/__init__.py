"""Measurements of a training setup. Probes produce numbers; rules judge them."""

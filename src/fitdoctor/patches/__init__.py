"""Verified patches: the source edits of verified fixes, applied with LibCST and shown as a unified diff."""

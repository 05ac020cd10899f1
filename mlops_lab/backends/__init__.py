"""Backends: one folder per concern, one module per implementation behind a small protocol."""

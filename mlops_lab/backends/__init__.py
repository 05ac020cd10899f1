"""Backends: one folder per concern; each exposes its protocol, a registry of
implementations by name (``BACKENDS``), ``make(config)`` and ``probe(config)``."""

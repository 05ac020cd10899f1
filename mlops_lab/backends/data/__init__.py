"""Data-versioning backends: the embedded store (local) and lakeFS."""

"""One service per concern, each built as Service(lab) on first access (see mlops_lab.lab)."""

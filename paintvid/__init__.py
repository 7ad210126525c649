"""Paint Your Video: command-line edge and small shared helpers (errors, atomic files, logging)."""

__version__ = "0.1.0"

"""One module per ``paintvid`` subcommand; each exposes ``register(subparsers)``."""

"""``paintvid``: the command-line edge. Each subcommand builds a frozen config and calls one library function.

Subcommands live in :mod:`paintvid.commands`, one module each, exposing ``register(subparsers)``; the module
sets ``func`` on its parser to a callable taking the parsed namespace. They are discovered automatically.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from foundation.errors import UserError
from foundation.runtime import quiet_tensorflow
from paintvid import __version__


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every subcommand registered."""
    import paintvid.commands as commands

    parser = argparse.ArgumentParser(prog="paintvid", description="Paint Your Video: style transfer for videos.")
    parser.add_argument("--version", action="version", version=f"paintvid {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"paintvid.commands.{info.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (0 ok, 2 bad input, 130 interrupted)."""
    quiet_tensorflow()
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UserError as exc:
        print(f"paintvid: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("paintvid: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``paintvid``: the command-line edge. Each subcommand builds a frozen config and calls one library function.

Subcommands live in :mod:`paintvid.commands`, one module each, exposing ``register(subparsers)``; the module
sets ``func`` on its parser to a callable taking the parsed namespace. They are discovered automatically.

Errors reach the user as one line on stderr (exit 2 for bad input, 1 for a bug, 130 for Ctrl-C); ``--verbose``
(before or after the subcommand) adds the traceback and lets TensorFlow's own log lines through.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
import traceback
import warnings

from foundation.errors import UserError
from foundation.runtime import quiet_tensorflow
from paintvid import __version__
from paintvid.stderr_filter import NativeStderrFilter

HINT = "(run with --verbose for details)"


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every subcommand registered."""
    import paintvid.commands as commands

    parser = argparse.ArgumentParser(prog="paintvid", description="Paint Your Video: style transfer for videos.")
    parser.add_argument("--version", action="version", version=f"paintvid {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"paintvid.commands.{info.name}").register(sub)
    _add_verbose(parser)
    return parser


def _add_verbose(parser: argparse.ArgumentParser) -> None:
    """Give ``parser`` and every (nested) subcommand a ``--verbose`` flag, so it works in any position."""
    parser.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="on error, print the full traceback; show TensorFlow's log lines")
    for action in parser._actions:  # argparse keeps subcommands only here
        if isinstance(action, argparse._SubParsersAction):
            for child in set(action.choices.values()):
                _add_verbose(child)


def wants_verbose(argv: list[str]) -> bool:
    """Return True if ``--verbose`` is among the options (before a ``--``); read before parsing, because
    TensorFlow's logging must be set up before anything imports it."""
    head = argv[: argv.index("--")] if "--" in argv else argv
    return "--verbose" in head


def quiet_libraries(verbose: bool) -> None:
    """Keep TensorFlow's, absl's and Keras' chatter off stderr unless ``verbose``; call before importing them."""
    if verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
        quiet_tensorflow()
        return
    quiet_tensorflow()
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # C++ logs after absl::InitializeLog (earlier ones: NativeStderrFilter)
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # read when cv2 loads: its WARN lines repeat our error
    for name in ("tensorflow", "absl", "keras", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"(tensorflow|keras|absl|google|h5py|tf_keras)(\.|$)")
    for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (0 ok, 1 a bug, 2 bad input, 130 interrupted).

    Called without ``argv`` (the ``paintvid`` program), native log lines on the process's stderr are filtered
    too; called with ``argv`` (tests, other Python code), the process's file descriptors are left alone.
    """
    args_list = sys.argv[1:] if argv is None else list(argv)
    verbose = wants_verbose(args_list)
    quiet_libraries(verbose)
    if argv is None and not verbose:
        with NativeStderrFilter():
            return _run(args_list, verbose)
    return _run(args_list, verbose)


def _run(argv: list[str], verbose: bool) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UserError as exc:
        return _fail(2, one_line(str(exc)), verbose)
    except KeyboardInterrupt:
        print("paintvid: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except OSError as exc:  # disk full, permission denied while writing: the machine's state, not a bug
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(2, one_line(f"{where}{exc.strerror or exc}"), verbose)
    except Exception as exc:  # noqa: BLE001 - a bug: still one line, the traceback with --verbose
        return _fail(1, one_line(f"unexpected error, please report it: {type(exc).__name__}: {exc}"), verbose)
    return 0


def _fail(code: int, message: str, verbose: bool) -> int:
    """Print the error (after the traceback with ``verbose``, else with the hint) and return ``code``."""
    if verbose:
        traceback.print_exc(file=sys.stderr)
        print(f"paintvid: {message}", file=sys.stderr)
    else:
        print(f"paintvid: {message} {HINT}", file=sys.stderr)
    return code


def one_line(text: str) -> str:
    """Return ``text`` with its line breaks folded into spaces (an error is always one line)."""
    return " ".join(text.split()) or "(no message)"


if __name__ == "__main__":
    sys.exit(main())

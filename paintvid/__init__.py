"""Paint Your Video: the command-line edge (``paintvid``): parses options, builds a config, calls one entry point."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("paint-your-video")  # the installed package's metadata (pyproject.toml's version)
except PackageNotFoundError:  # run from a checkout that was never installed
    __version__ = "unknown"

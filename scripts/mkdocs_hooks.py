"""MkDocs hooks: add the pages generated from the code (the CLI reference, the Make targets) to every build.

The pages never exist in ``docs/``: they are made from the real argparse parser and the Makefile each time the site
is built (``make docs``, ``make docs-serve``), so they cannot drift from what ``paintvid --help`` and ``make help``
say. ``mkdocs.yml`` names this file under ``hooks``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mkdocs.structure.files import File, Files

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the generators beside this file (scripts/ is no package)

from gen_cli_reference import cli_reference  # noqa: E402
from gen_make_reference import make_reference  # noqa: E402

#: page path in the site -> function returning its Markdown
GENERATED = {"reference/cli.md": cli_reference, "reference/make.md": make_reference}


def on_files(files: Files, config) -> Files:
    """Add each generated page to the build (replacing a stale copy of the same name, if any)."""
    for src_uri, make in GENERATED.items():
        if existing := files.get_file_from_path(src_uri):
            files.remove(existing)
        files.append(File.generated(config, src_uri, content=make()))
    return files

"""Write the CLI reference (Markdown) from the real ``paintvid`` argparse parser, so the page cannot drift.

    python scripts/gen_cli_reference.py                # print it
    python scripts/gen_cli_reference.py -o cli.md      # write it

The docs build (``scripts/mkdocs_hooks.py``) calls :func:`cli_reference` on every build; ``tests/test_docs.py``
checks that every subcommand and option of the parser appears in it.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

from paintvid.cli import build_parser

#: argparse's placeholder for "no default"
_NO_DEFAULT = (None, argparse.SUPPRESS)


Command = tuple[str, str, argparse.ArgumentParser]


def subcommands(parser: argparse.ArgumentParser, prefix: str = "paintvid") -> Iterator[Command]:
    """Yield ``(full command, one-line help, parser)`` for every subcommand of ``parser``, nested ones included,
    in the parser's order."""
    for action in parser._actions:  # argparse keeps subcommands only here
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
        for name, child in action.choices.items():
            command = f"{prefix} {name}"
            yield command, helps.get(name, ""), child
            yield from subcommands(child, command)


def option_names(parser: argparse.ArgumentParser) -> list[str]:
    """Return every option string (``--width``, ``-o``) and positional name of ``parser``, subcommands excluded."""
    names: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue
        names.extend(action.option_strings or [action.metavar or action.dest])
    return names


def _escape(text: str, pipes: bool) -> str:
    """Return ``text`` with, outside code spans, no HTML (``<id>``), emphasis (``*.flo``) or (``pipes``) pipe.

    Docstring-style ````code```` becomes Markdown's ```code``` first, so every odd piece between backticks is code.
    """
    parts = re.sub(r"``(.+?)``", r"`\1`", text).split("`")
    for i in range(0, len(parts), 2):  # even parts lie outside code spans
        part = parts[i].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("*", "\\*")
        parts[i] = part.replace("|", "\\|") if pipes else part
    return "`".join(parts)


def _cell(text: str) -> str:
    """Return ``text`` safe inside a Markdown table cell: one line; code spans keep their pipes."""
    return _escape(" ".join(str(text).split()), pipes=True)


def _description(parser: argparse.ArgumentParser) -> list[str]:
    """Return the subcommand's description (its module docstring) as Markdown paragraphs."""
    text = textwrap.dedent(parser.description or "").strip()
    return [line for para in text.split("\n\n") if para.strip() for line in (_escape(" ".join(para.split()),
                                                                                    pipes=False), "")]


def _default(action: argparse.Action) -> str:
    """Return the default of ``action`` as shown in the table ('' when it has none worth showing)."""
    if action.default in _NO_DEFAULT or action.default is False or isinstance(action, argparse._HelpAction):
        return ""
    if isinstance(action.default, list | tuple):
        return f"`{','.join(str(v) for v in action.default)}`"
    return f"`{action.default}`"


def _help_text(action: argparse.Action) -> str:
    """Return the action's help with argparse's ``%%`` and ``%(default)s`` expanded."""
    text = action.help or ""
    if text == argparse.SUPPRESS:
        return ""
    try:
        return text % {"default": action.default, "prog": "paintvid"}
    except (KeyError, TypeError, ValueError):
        return text.replace("%%", "%")


def _names(action: argparse.Action) -> str:
    """Return the option's spellings, its value placeholder and its choices, as Markdown."""
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    names = ", ".join(f"`{o}`" for o in action.option_strings)
    if action.nargs == 0:
        return names
    if action.choices:
        return f"{names} `{{{','.join(str(c) for c in action.choices)}}}`"
    return f"{names} `{action.metavar or action.dest.upper()}`"


def _table(actions: list[argparse.Action]) -> list[str]:
    """Return the Markdown rows of one group's options."""
    rows = ["| option | default | what it does |", "|---|---|---|"]
    rows += [f"| {_cell(_names(a))} | {_cell(_default(a))} | {_cell(_help_text(a))} |" for a in actions]
    return rows


def command_section(command: str, summary: str, parser: argparse.ArgumentParser) -> list[str]:
    """Return the Markdown lines of one subcommand: summary, usage and one table per argument group."""
    lines = [f"## `{command}`", ""]
    if summary:
        lines += [summary[:1].upper() + summary[1:] + ".", ""]
    lines += _description(parser)
    parser.prog = command
    lines += ["```text", parser.format_usage().strip(), "```", ""]
    for group in parser._action_groups:
        skip = argparse._SubParsersAction | argparse._HelpAction
        actions = [a for a in group._group_actions if not isinstance(a, skip)]
        if not actions:
            continue
        title = group.title or "options"
        lines += [f"**{title[:1].upper() + title[1:]}**", "", *_table(actions), ""]
    return lines


def cli_reference(parser: argparse.ArgumentParser | None = None) -> str:
    """Return the whole CLI reference page as Markdown, generated from ``parser`` (default: the real one)."""
    parser = parser or build_parser()
    lines = ["# Command-line reference", "",
             "Generated from the `paintvid` parser on every docs build, so it always matches `paintvid COMMAND "
             "--help`. Every command also takes `--verbose` (anywhere on the line: full traceback on error, "
             "TensorFlow's own log lines), and `paintvid --version` prints the installed version.", "",
             "| command | what it does |", "|---|---|"]
    commands = list(subcommands(parser))
    for command, summary, child in commands:
        if not any(isinstance(a, argparse._SubParsersAction) for a in child._actions):
            lines.append(f"| [`{command}`](#{_anchor(command)}) | {_cell(summary)} |")
    lines.append("")
    for command, summary, child in commands:
        if any(isinstance(a, argparse._SubParsersAction) for a in child._actions):
            continue  # a group of subcommands (``dataset``): its children have their own sections
        lines += command_section(command, summary, child)
    return "\n".join(lines) + "\n"


def _anchor(command: str) -> str:
    """Return the heading id Python-Markdown's toc gives ``## `command` ``."""
    return "-".join(command.replace("`", "").lower().split())


def main(argv: list[str] | None = None) -> int:
    """Print the reference, or write it to ``-o PATH``; return 0."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-o", "--output", type=Path, default=None)
    args = p.parse_args(argv)
    text = cli_reference()
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The one exception type that reaches the user as a one-line message (exit code 2)."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: a missing file, an unreadable image, an absurd option.

    The CLI prints ``paintvid: <message>`` and exits with code 2, never a traceback. Messages name
    the file and the problem, e.g. ``style.jpg: not an image OpenCV can decode``.
    """

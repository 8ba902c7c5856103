"""Errors shared by the command line and the code it calls (no imports: anything may use it)."""

from __future__ import annotations


class UserError(Exception):
    """A failure the user can fix; `sketchlab` prints it as one line, without a traceback."""

"""CLI sub-commands: one module per command, each exposing ``register(subparsers)``.

``register`` adds its sub-parser and sets ``func=run`` where ``run(args) -> int`` returns the
exit code. Modules are discovered automatically by :mod:`nuke_colorize.cli`.

A command made of actions (``cache build|status|clear``) given none does something harmless:
``models`` lists the models (``models list``); one with nothing harmless to default to prints
its help, the list of its actions, on stdout and exits 0 (:func:`help_when_bare`), as
``nuke-colorize`` alone does.
"""
from __future__ import annotations

import sys


def help_when_bare(parser) -> None:
    """Make ``parser`` print its help on stdout and exit 0 when no action follows it (an action's
    own ``func`` replaces this one)."""
    def show_help(args) -> int:
        parser.print_help(sys.stdout)
        return 0
    parser.set_defaults(func=show_help)

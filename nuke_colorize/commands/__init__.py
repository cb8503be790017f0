"""CLI sub-commands: one module per command, each exposing ``register(subparsers)``.

``register`` adds its sub-parser and sets ``func=run`` where ``run(args) -> int`` returns the
exit code. Modules are discovered automatically by :mod:`nuke_colorize.cli`.
"""

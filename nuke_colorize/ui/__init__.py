"""Qt user interface (the reference panel), through :mod:`.qt` (qtpy when it imports, else the
PySide Nuke ships: PySide2 in Nuke 13-15, PySide6 in Nuke 16).

Host-agnostic: the panel talks to a :class:`~nuke_colorize.ui.model.ShotSource`; the Nuke
implementation is :mod:`nuke_colorize.host.nuke.panel`. Standard library + Qt only.
"""

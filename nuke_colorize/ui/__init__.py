"""Qt user interface (the reference panel), through qtpy: PySide2 (Nuke 13-15) or PySide6 (Nuke 16).

Host-agnostic: the panel talks to a :class:`~nuke_colorize.ui.model.ShotSource`; the Nuke
implementation is :mod:`nuke_colorize.host.nuke.panel`. Standard library + Qt only.
"""

"""Toolbar and menu entries (called from the plug-in's menu.py, GUI sessions only).

``nuke.toolbar("Nodes")`` is the node toolbar (the same object as ``nuke.menu("Nodes")``).
"""
from __future__ import annotations

import nuke

CREATE = "from nuke_colorize.host.nuke import node as _nc; _nc.create()"
PANEL = "from nuke_colorize.host.nuke import panel as _ncp; _ncp.open_panel()"


def install():
    toolbar = nuke.toolbar("Nodes")
    sub = toolbar.addMenu("Colorize", icon="")
    sub.addCommand("Colorize", CREATE, tooltip="Exemplar-based colorization of a grey plate")
    sub.addCommand("Reference panel", PANEL)
    menu = nuke.menu("Nuke").addMenu("Colorize")
    menu.addCommand("Create Colorize node", CREATE)
    menu.addCommand("Reference panel...", PANEL)

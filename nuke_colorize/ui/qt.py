"""The Qt binding: qtpy when it imports, else PySide6, else PySide2 (what Nuke ships).

A qtpy that is there but does not import in this Python counts as absent: qtpy imports
``packaging``, and a ``packaging`` made for a newer Python fails in Nuke 13's Python 3.7 with a
SyntaxError (positional-only parameters) and in Nuke 14's 3.9 with a TypeError (``X | Y``
annotations), not an ImportError.

Exports ``QtCore``, ``QtGui``, ``QtWidgets``, ``Signal``, ``API`` (binding name).
"""
from __future__ import annotations

try:
    from qtpy import API_NAME as API
    from qtpy import QtCore, QtGui, QtWidgets
except Exception:  # noqa: BLE001 - no qtpy, or one this Python cannot import: Nuke's own PySide
    try:
        from PySide6 import QtCore, QtGui, QtWidgets
        API = "PySide6"
    except ImportError:
        from PySide2 import QtCore, QtGui, QtWidgets
        API = "PySide2"

Signal = QtCore.Signal

__all__ = ["API", "QtCore", "QtGui", "QtWidgets", "Signal", "exec_dialog"]


def exec_dialog(dialog):
    """``exec()`` (PySide6) or ``exec_()`` (PySide2)."""
    fn = getattr(dialog, "exec", None) or getattr(dialog, "exec_")
    return fn()

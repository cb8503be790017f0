"""The Qt binding: qtpy when present, else PySide6, else PySide2 (what Nuke ships).

Exports ``QtCore``, ``QtGui``, ``QtWidgets``, ``Signal``, ``API`` (binding name).
"""
from __future__ import annotations

try:
    from qtpy import API_NAME as API
    from qtpy import QtCore, QtGui, QtWidgets
except ImportError:  # inside Nuke without qtpy on the path
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

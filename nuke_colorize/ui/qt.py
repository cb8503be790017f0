"""The Qt binding. Inside Nuke: the PySide Nuke ships (PySide2 in Nuke 13-15, PySide6 from Nuke
16). Elsewhere: qtpy when it imports, else PySide6, else PySide2.

Inside Nuke qtpy is not asked: "If several of these packages are found, PyQt5 is used by
default unless you set the QT_API environment variable" (qtpy README), so a studio's PyQt5
would be loaded beside Nuke's PySide2; and a PySide6 on the path must not be loaded into a
Qt 5 Nuke. A qtpy that is there but does not import in this Python counts as absent: qtpy
imports ``packaging``, and a ``packaging`` made for a newer Python fails in Python 3.7 with a
SyntaxError and in 3.9 with a TypeError, not an ImportError.

Exports ``QtCore``, ``QtGui``, ``QtWidgets``, ``Signal``, ``API`` (binding name).
"""
from __future__ import annotations

import importlib
import sys


def _pyside(order):
    for name in order:
        try:
            mods = [importlib.import_module("%s.%s" % (name, sub)) for sub in ("QtCore", "QtGui", "QtWidgets")]
        except ImportError:
            continue
        return [name] + mods
    raise ImportError("none of %s can be imported" % ", ".join(order))


def _binding():
    """(API name, QtCore, QtGui, QtWidgets)."""
    nuke = sys.modules.get("nuke")
    major = getattr(nuke, "NUKE_VERSION_MAJOR", None) if nuke is not None else None
    if isinstance(major, int):   # inside Nuke: its own binding first
        return _pyside(("PySide2", "PySide6") if major < 16 else ("PySide6", "PySide2"))
    try:
        from qtpy import API_NAME, QtCore, QtGui, QtWidgets
        return [API_NAME, QtCore, QtGui, QtWidgets]
    except Exception:  # noqa: BLE001 - no qtpy, or one this Python cannot import
        return _pyside(("PySide6", "PySide2"))


API, QtCore, QtGui, QtWidgets = _binding()
Signal = QtCore.Signal

__all__ = ["API", "QtCore", "QtGui", "QtWidgets", "Signal", "exec_dialog"]


def exec_dialog(dialog):
    """``exec()`` (PySide6) or ``exec_()`` (PySide2)."""
    fn = getattr(dialog, "exec", None) or getattr(dialog, "exec_")
    return fn()

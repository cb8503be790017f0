"""The reference panel inside Nuke: :class:`NukeShotSource` feeds it the script's Colorize nodes."""
from __future__ import annotations

from .. import frames as fr
from .. import status as statusmod
from . import jobs
from . import node as node_mod
from . import sources

_PANELS = []  # keep open panels alive (Qt would delete unreferenced windows)


class NukeShotSource(object):
    """:class:`nuke_colorize.ui.model.ShotSource` over the Colorize nodes of the script."""

    def __init__(self, client=None):
        self.client = client

    def shots(self):
        from ...ui.model import RefInfo, ShotInfo
        out = []
        for n in node_mod.all_shots():
            prep = node_mod.refresh(n)
            try:   # rows as typed (the panel edits and writes them back); thumbnails evaluated
                rows = node_mod.reference_rows(n, as_typed=True)
                shown = node_mod.reference_rows(n)
            except node_mod.NodeError:
                rows = shown = []
            if len(shown) != len(rows):
                shown = rows
            refs = [RefInfo(r, self._thumbnail(n, e)) for r, e in zip(rows, shown)]
            if prep is None:
                out.append(ShotInfo(n.fullName(), node_mod.shot_name(n), None, refs, [],
                                    error=n["status"].value()))
                continue
            states = node_mod.coverage(n, prep)
            out.append(ShotInfo(n.fullName(), node_mod.shot_name(n), prep.frames, refs,
                                statusmod.segments(states), n["status"].value()))   # says "analysing..."
        return out

    @staticmethod
    def _thumbnail(n, row):
        if row.source == "file":
            return row.path
        read = sources.plain_read(n.input(sources.REFERENCE)) if n.input(sources.REFERENCE) else None
        if read is not None:
            return fr.frame_path(sources.read_file(read), row.input_frame)
        return None

    def set_references(self, key, rows):
        n = node_mod.to_node(key)
        if n is None or not node_mod.is_colorize(n):
            raise ValueError("%s is not a Colorize node any more" % key)
        node_mod.set_references(n, rows)

    def analyze(self, key, on_progress, on_done):
        n = node_mod.to_node(key)
        if n is None or not node_mod.is_colorize(n):
            raise ValueError("%s is not a Colorize node any more" % key)
        prep = node_mod.prepare(n, write=True)
        node_mod.set_read(n, prep)

        def done(job):
            if job.cancelled:
                on_done(False, "cancelled; %d frame(s) were done" % (job.progress[-1][0] if job.progress else 0))
            elif job.error:
                on_done(False, job.error)
            else:
                on_done(True, "")

        return jobs.start(key, prep, prep.frames, client=self.client, on_progress=on_progress, on_done=done)


def open_panel(node=None):
    """Open (or raise) the reference panel, showing ``node``'s shot if given."""
    from ...ui.panel import ReferencePanel
    from ...ui.qt import QtWidgets
    panel = _PANELS[0] if _PANELS else None
    if panel is None:
        panel = ReferencePanel(NukeShotSource(), parent=QtWidgets.QApplication.activeWindow())
        panel.setWindowFlags(_window_flag())  # a window of its own, above Nuke's
        _PANELS.append(panel)
    else:
        panel.refresh()
    if node is not None:
        panel.select_shot(node.fullName())
    panel.show()
    panel.raise_()
    return panel


def _window_flag():
    from ...ui.qt import QtCore
    return QtCore.Qt.Window

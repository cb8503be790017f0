"""What the reference panel shows and edits, independent of the host application.

A host provides a :class:`ShotSource`; the panel only calls the methods below. Callbacks may
come from any thread: the panel hops to the Qt main thread itself.
"""
from __future__ import annotations


class RefInfo(object):
    """One reference as listed in the panel.

    row: the :class:`nuke_colorize.host.references.RefRow` it comes from.
    thumbnail: image file to draw a thumbnail from, or None.
    """

    def __init__(self, row, thumbnail=None):
        self.row = row
        self.thumbnail = thumbnail

    @property
    def frame(self):
        return self.row.frame

    def describe(self):
        if self.row.source == "input":
            return "reference input, frame %d" % self.row.input_frame
        return self.row.path


class ShotInfo(object):
    """One shot (a Colorize node): ``key`` identifies it to the source (the node's full name).

    segments: list of (first, last, state) with state "cached", "stale" or "missing".
    """

    def __init__(self, key, name, frames=None, references=(), segments=(), status="", error=None):
        self.key = key
        self.name = name
        self.frames = frames
        self.references = list(references)
        self.segments = list(segments)
        self.status = status
        self.error = error


class ShotSource(object):
    """Interface the host implements for the panel."""

    def shots(self):
        """List of ShotInfo, in the order to show them."""
        raise NotImplementedError

    def set_references(self, key, rows):
        """Replace the references of shot ``key`` with ``rows`` (list of RefRow)."""
        raise NotImplementedError

    def analyze(self, key, on_progress, on_done):
        """Start analysing shot ``key``; returns an object with ``cancel()``.

        ``on_progress(done, total, frame)`` and ``on_done(ok, message)`` may be called from
        any thread.
        """
        raise NotImplementedError

"""What the reference panel shows and edits, independent of the host application.

A host provides a :class:`ShotSource`; the panel only calls the methods below. Callbacks may
come from any thread: the panel hops to the Qt main thread itself.
"""
from __future__ import annotations

from ..host.status import merge_runs

#: Severity of a segment state. A pixel column of the coverage bar that holds frames of several
#: states shows the most severe one, so a single stale or missing frame among thousands of
#: cached ones stays visible however narrow the bar: stale (cached for other references or
#: settings) over missing over cached. A state the bar does not know counts as missing.
STATE_RANK = {"cached": 0, "missing": 1, "stale": 2}
#: The bar's colour (RGB) of each state.
SEGMENT_COLOURS = {"cached": (70, 170, 90), "stale": (230, 150, 40), "missing": (90, 90, 90)}
TOOLTIP_RUNS = 12   # runs listed in the coverage bar's tooltip; the rest are counted


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


def _known_state(state):
    """``state`` when it is one of :data:`STATE_RANK`, else "missing"."""
    return state if state in STATE_RANK else "missing"


def _columns(a, b, frames, width):
    """Pixel columns (first, last) that frames ``a``-``b`` cover on a bar of ``width`` pixels
    showing ``frames`` (first, last): every column the frames' share of the bar touches, at
    least one; None when none of them lies in ``frames``."""
    first, last = frames
    a, b = max(a, first), min(b, last)
    if b < a:
        return None
    span = last - first + 1
    x0 = (a - first) * width // span
    x1 = -(-(b - first + 1) * width // span) - 1       # ceiling, exact in integers
    return x0, max(x0, x1)


def column_runs(frames, segments, width):
    """The coverage bar of ``segments`` [(first, last, state)] over ``frames`` (first, last) at
    ``width`` pixels: runs [(first column, last column, state)], at most one per column and
    none for columns no segment covers. A column holding several states shows the most
    severe (:data:`STATE_RANK`). Costs one step per segment and column, whatever their count."""
    if not frames or frames[1] < frames[0] or width <= 0:
        return []
    ranks = [-1] * width
    for a, b, state in segments:
        cols = _columns(a, b, frames, width)
        if cols is None:
            continue
        rank = STATE_RANK[_known_state(state)]
        for x in range(cols[0], cols[1] + 1):
            if ranks[x] < rank:
                ranks[x] = rank
    names = sorted(STATE_RANK, key=STATE_RANK.get)
    return merge_runs((x, x, names[r]) for x, r in enumerate(ranks) if r >= 0)


def coverage_tooltip(segments, limit=TOOLTIP_RUNS):
    """Tooltip of the coverage bar: the first ``limit`` runs of frames (adjacent segments of one
    state merged), one per line, then, when there are more, how many and the frame count of
    each state over the whole shot."""
    runs = merge_runs(sorted(segments))
    lines = ["%d-%d: %s" % run for run in runs[:limit]]
    if len(runs) > limit:
        totals = {}
        for a, b, state in runs:
            totals[state] = totals.get(state, 0) + b - a + 1
        counts = ", ".join("%d %s" % (totals[s], s) for s in sorted(totals))
        lines.append("... and %d more (frames in all: %s)" % (len(runs) - limit, counts))
    return "\n".join(lines)

"""The node's references table: which colour image anchors which plate frame.

One reference per line, as the compositor types it in the node's ``references`` knob::

    1001 /refs/a_1001.png      keyframe: colour version of plate frame 1001, from a file
    1040 input                 keyframe: frame 1040 of the node's reference input
    1080 input 12              keyframe for plate frame 1080: frame 12 of the reference input
    still /refs/look.jpg       external still (semantic matching only, no frame)
    still input 5              frame 5 of the reference input, used as a still

Blank lines and lines starting with ``#`` are ignored. Paths may contain spaces and may be
quoted. Standard library only (runs inside the host).
"""
from __future__ import annotations

STILL_WORDS = ("still", "-", "*")


class RefTableError(ValueError):
    """A line of the references table that cannot be read (``line`` is 1-based)."""

    def __init__(self, message, line=None):
        self.line = line
        super(RefTableError, self).__init__(("references line %d: " % line if line else "references: ")
                                            + message)


class RefRow(object):
    """One reference.

    frame: plate frame it is the colour version of, or None for a still.
    source: "file" or "input" (the node's reference input).
    path: image file (source "file").
    input_frame: frame of the reference input to take (source "input"), defaults to ``frame``.
    """

    __slots__ = ("frame", "source", "path", "input_frame", "line")

    def __init__(self, frame=None, source="file", path="", input_frame=None, line=None):
        self.frame = frame
        self.source = source
        self.path = path
        self.input_frame = input_frame
        self.line = line

    @property
    def is_keyframe(self):
        return self.frame is not None

    def to_dict(self):
        d = {"frame": self.frame, "source": self.source}
        if self.source == "file":
            d["path"] = self.path
        else:
            d["input_frame"] = self.input_frame
        return d

    def __eq__(self, other):
        return isinstance(other, RefRow) and self.to_dict() == other.to_dict()

    def __ne__(self, other):
        return not self == other

    def __repr__(self):
        return "RefRow(%r)" % (self.to_dict(),)


def _unquote(text):
    t = text.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "\"'":
        return t[1:-1]
    return t


def parse_table(text):
    """Table text -> list of RefRow (file order). Raises RefTableError."""
    rows = []
    keyframes = {}
    for number, raw in enumerate((text or "").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        head = parts[0].lower()
        rest = parts[1].strip() if len(parts) > 1 else ""
        if head in STILL_WORDS:
            frame = None
        else:
            try:
                frame = int(parts[0])
            except ValueError:
                raise RefTableError("'%s' is neither a frame number nor 'still' (write "
                                    "'1001 /path/ref.png', '1001 input' or 'still /path/ref.png')"
                                    % parts[0], number)
        if not rest:
            raise RefTableError("no image given after '%s'" % parts[0], number)
        words = rest.split()
        if words[0].lower() == "input" and len(words) <= 2:
            if len(words) == 2:
                try:
                    input_frame = int(words[1])
                except ValueError:
                    raise RefTableError("'input %s': the input frame must be a number" % words[1], number)
            elif frame is None:
                raise RefTableError("'still input' needs the frame of the reference input to take, "
                                    "e.g. 'still input 12'", number)
            else:
                input_frame = frame
            row = RefRow(frame, "input", "", input_frame, number)
        else:
            row = RefRow(frame, "file", _unquote(rest), None, number)
        if frame is not None:
            if frame in keyframes:
                raise RefTableError("frame %d already has a reference (line %d)" % (frame, keyframes[frame]),
                                    number)
            keyframes[frame] = number
        rows.append(row)
    return rows


def format_row(row):
    head = "still" if row.frame is None else str(int(row.frame))
    if row.source == "input":
        if row.frame is not None and row.input_frame == row.frame:
            return "%s input" % head
        return "%s input %d" % (head, int(row.input_frame))
    path = row.path
    if path != path.strip():
        path = '"%s"' % path
    return "%s %s" % (head, path)


def format_table(rows):
    """List of RefRow -> table text (keyframes sorted by frame, then stills)."""
    keys = sorted((r for r in rows if r.frame is not None), key=lambda r: r.frame)
    stills = [r for r in rows if r.frame is None]
    return "\n".join(format_row(r) for r in keys + stills)

"""JSON-lines protocol between the host (Nuke) and the engine worker.

One message is one UTF-8 JSON object on one line, at most :data:`MAX_MESSAGE` bytes including
the newline. Requests carry ``{"id": <int or str>, "cmd": <str>, ...}``; every message the
worker sends about a request carries the same ``id`` and an ``event``:

* ``{"id": 3, "event": "started", "pid": 4242}`` (``analyze``: the engine process working on it)
* ``{"id": 3, "event": "progress", "done": 4, "total": 20, "frame": 1004}`` (``stage``
  ``waiting`` with a ``message`` while another process holds what it needs, repeated;
  ``preparing`` with a ``message`` before the first frame: identifying the plate's frames,
  planning automatic references, loading the backend; :data:`WAITING_STAGES`)
* ``{"id": 3, "event": "result", "ok": true, ...}`` (the last message for that request; an
  ``analyze`` result also carries ``notes``: the engine's notes, what it did differently,
  each once, at most 20)
* ``{"id": 3, "event": "error", "message": "...", "ok": false}`` (also final)

Messages the worker cannot read get ``{"id": null, "event": "error", "message": ...}``; the
worker keeps running. Python 3.7 compatible, standard library only.
"""
from __future__ import annotations

import json

MAX_MESSAGE = 1 << 20  # bytes, newline included
PROTOCOL_VERSION = 1
FINAL_EVENTS = ("result", "error")
#: ``stage`` of progress events that say what the engine is busy with before (or between)
#: frames, with a ``message`` and no progress of their own
WAITING_STAGES = ("waiting", "preparing")
COMMANDS = ("ping", "backends", "analyze", "status", "clear", "cancel", "shutdown")


class ProtocolError(ValueError):
    """A line that is not a valid protocol message (too long, not JSON, wrong shape)."""


def encode(message):
    """dict -> one line of bytes (newline included). Raises ProtocolError when too large."""
    if not isinstance(message, dict):
        raise ProtocolError("a message must be a JSON object")
    data = json.dumps(message, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    line = data.encode("ascii") + b"\n"
    if len(line) > MAX_MESSAGE:
        raise ProtocolError("message of %d bytes exceeds the %d byte limit" % (len(line), MAX_MESSAGE))
    return line


def decode(line):
    """One line (bytes or str, newline optional) -> dict. Raises ProtocolError on anything else."""
    if isinstance(line, bytes):
        if len(line) > MAX_MESSAGE:
            raise ProtocolError("message of %d bytes exceeds the %d byte limit" % (len(line), MAX_MESSAGE))
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("message is not UTF-8")
    elif len(line) > MAX_MESSAGE:
        raise ProtocolError("message exceeds the %d byte limit" % MAX_MESSAGE)
    text = line.strip()
    if not text:
        raise ProtocolError("empty message")
    try:
        msg = json.loads(text, parse_constant=_reject_constant)
    except ValueError as err:
        raise ProtocolError("message is not JSON: %s" % err)
    except RecursionError:  # "[[[[...": nesting deeper than the parser's stack; must not kill the reader
        raise ProtocolError("message is nested too deeply")
    if not isinstance(msg, dict):
        raise ProtocolError("message is not a JSON object")
    return msg


def _reject_constant(name):
    raise ValueError("%s is not allowed" % name)


def validate_request(msg):
    """Check a decoded request's envelope; returns (id, cmd). Raises ProtocolError."""
    rid = msg.get("id")
    if isinstance(rid, bool) or not isinstance(rid, (int, str)):
        raise ProtocolError("request needs an integer or string 'id'")
    if isinstance(rid, str) and len(rid) > 64:
        raise ProtocolError("request 'id' is longer than 64 characters")
    cmd = msg.get("cmd")
    if not isinstance(cmd, str):
        raise ProtocolError("request needs a string 'cmd'")
    if cmd not in COMMANDS:
        raise ProtocolError("unknown command '%s' (known: %s)" % (cmd[:40], ", ".join(COMMANDS)))
    return rid, cmd


def read_line(stream, limit=MAX_MESSAGE):
    """Read one line from a binary stream without ever holding more than ``limit`` bytes.

    Returns ``b""`` at end of stream. A longer line is consumed up to its newline and
    reported by raising ProtocolError, so the stream stays in sync for the next message.
    """
    line = stream.readline(limit + 1)
    if len(line) <= limit or line.endswith(b"\n"):
        if len(line) > limit:
            raise ProtocolError("message exceeds the %d byte limit" % limit)
        return line
    # too long: skip the rest of this line in bounded chunks
    while True:
        chunk = stream.readline(65536)
        if not chunk or chunk.endswith(b"\n"):
            break
    raise ProtocolError("message exceeds the %d byte limit" % limit)

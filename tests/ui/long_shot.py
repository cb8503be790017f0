"""A long shot for the coverage bar: 10,000 one-frame segments (frames 1-10000, as a source that
does not merge them would give), all cached but frame 5000 (stale) and 9001-10000 (missing).
Standard library only: the panel scenario imports it under either Qt binding.

On a bar of :data:`WIDTH` pixels each column holds 20 frames: column 249 holds frames
4981-5000, so the stale one; 450-499 hold the missing frames. :data:`COLUMNS` gives the state
each of a few columns shows."""

FRAMES = (1, 10000)
WIDTH = 500
COLUMNS = {0: "cached", 248: "cached", 249: "stale", 250: "cached", 449: "cached", 450: "missing", 499: "missing"}


def state(frame):
    """The state of ``frame`` in the long shot."""
    if frame == 5000:
        return "stale"
    return "missing" if frame > 9000 else "cached"


def segments():
    """The long shot's segments, one per frame."""
    return [(f, f, state(f)) for f in range(FRAMES[0], FRAMES[1] + 1)]

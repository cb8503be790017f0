"""Stand-in for the engine CLI (``cache build/status/clear``) used by the worker protocol tests.

It follows the shot file's ``output`` pattern and ``frames`` like the real cache and prints
``--json-progress`` lines, but "colourises" by writing a small text file per frame, slowly
enough (``FAKE_ENGINE_DELAY`` s per frame) for cancellation to be observable. A shot whose
settings say ``"hang": true`` hangs after its first frame (says so on stderr, then sleeps).
``$FAKE_ENGINE_NOTES`` (a JSON list) are printed as the engine's notes, twice each.
``$FAKE_ENGINE_CLEAR_BUSY`` makes ``cache clear`` refuse, as while another process uses the cache.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from nuke_colorize.host.frames import frame_path, parse_range  # noqa: E402


def write_frame(path, f):
    """A text file, or for .exr outputs a tiny EXR whose red channel is frame / 10000."""
    if not path.endswith(".exr"):
        with open(path, "w") as fh:
            fh.write("frame %d\n" % f)
        return
    import numpy as np
    import OpenImageIO as oiio
    img = np.zeros((6, 8, 3), np.float32)
    img[..., 0] = f / 10000.0
    img[..., 1] = 0.25
    spec = oiio.ImageSpec(8, 6, 3, oiio.FLOAT)
    tmp = path + ".tmp.exr"
    out = oiio.ImageOutput.create(tmp)
    out.open(tmp, spec)
    out.write_image(img)
    out.close()
    os.replace(tmp, path)


def main(argv):
    if argv[:1] != ["cache"]:
        print("nuke-colorize: error: fake engine only knows 'cache'", file=sys.stderr)
        return 2
    verb, shot = argv[1], argv[2]
    with open(shot) as fh:
        data = json.load(fh)
    if not os.path.isabs(data["output"]):   # relative to the shot file, as the engine reads it
        data["output"] = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(shot)), data["output"]))
    first, last = data["frames"]
    if "--frames" in argv:
        first, last = parse_range(argv[argv.index("--frames") + 1])
    if verb == "build":
        if data.get("settings", {}).get("fail"):
            print("some warning", file=sys.stderr)
            print("nuke-colorize: error: %s: frame %d: plate frame is missing" % (data["plate"], first),
                  file=sys.stderr)
            return 2
        print("this is not json")  # the worker must ignore noise on stdout
        for _ in range(2):   # the engine's notes ($FAKE_ENGINE_NOTES, a JSON list), said twice
            for note in json.loads(os.environ.get("FAKE_ENGINE_NOTES", "[]")):
                print("nuke-colorize: note: %s" % note, file=sys.stderr, flush=True)
        delay = float(os.environ.get("FAKE_ENGINE_DELAY", "0.02"))
        total = last - first + 1
        for i, f in enumerate(range(first, last + 1)):
            time.sleep(delay)
            path = frame_path(data["output"], f)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            write_frame(path, f)
            print(json.dumps({"event": "frame", "frame": f, "done": i + 1, "total": total}), flush=True)
            if data.get("settings", {}).get("hang"):
                print("fake engine: hanging after frame %d" % f, file=sys.stderr, flush=True)
                time.sleep(600)
        return 0
    if verb == "status":
        done = [f for f in range(first, last + 1) if os.path.exists(frame_path(data["output"], f))]
        print(json.dumps({"frames": [first, last], "cached": len(done), "total": last - first + 1}))
        return 0
    if verb == "clear":
        if os.environ.get("FAKE_ENGINE_CLEAR_BUSY"):   # as the cache refuses while a render reads it
            print("nuke-colorize: error: %s: the cache is in use by another process (a build or render is "
                  "running)" % data["cache"], file=sys.stderr)
            return 4
        for f in range(first, last + 1):
            try:
                os.remove(frame_path(data["output"], f))
            except OSError:
                pass
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

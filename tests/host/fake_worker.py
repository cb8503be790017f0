"""Stand-in for ``nuke-colorize worker`` (started as ``python fake_worker.py worker``) speaking
the bridge protocol, for the stall tests of the render hook and Analyze.

``FAKE_WORKER_MODE`` says what an ``analyze`` does:

* ``silent``: starts an "engine" child (a sleeping Python, in a process group of its own, as the
  real worker starts ``cache build``), says ``started`` with its pid and one ``progress`` for a
  frame, then sends nothing more about it (a hung engine). Other requests are still answered.
* ``waiting``: sends a ``waiting`` progress event every ``FAKE_WORKER_BEAT`` s (default 0.3)
  for ``FAKE_WORKER_WAIT`` s (default 3), as the cache does while another process holds a
  chain's lock, then writes the shot's output frames and ends with ``result``.
* ``preparing``: the same with ``preparing`` events ("identifying plate frames i/2000"), as
  the cache sends while it hashes a plate's frames before the first frame.

The pids of the worker and of the engine children go to ``$FAKE_WORKER_DIR/pids.txt``.
"""
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.dirname(__file__))
from fake_engine import write_frame  # noqa: E402
from nuke_colorize.host.frames import frame_path  # noqa: E402

OUT = sys.stdout.buffer
LOCK = threading.Lock()


def send(msg):
    with LOCK:
        OUT.write((json.dumps(msg) + "\n").encode())
        OUT.flush()


def note_pid(kind, pid):
    folder = os.environ.get("FAKE_WORKER_DIR")
    if folder:
        with open(os.path.join(folder, "pids.txt"), "a") as fh:
            fh.write("%s %d\n" % (kind, pid))


def analyze(rid, msg):
    mode = os.environ.get("FAKE_WORKER_MODE", "silent")
    with open(msg["shot"]) as fh:
        shot = json.load(fh)
    first, last = msg.get("frames") or shot["frames"]
    if mode == "silent":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                                 start_new_session=True)
        note_pid("engine", child.pid)
        send({"id": rid, "event": "started", "pid": child.pid})
        send({"id": rid, "event": "progress", "done": 1, "total": 9, "frame": first})
        return  # and never another word about it
    beat = float(os.environ.get("FAKE_WORKER_BEAT", "0.3"))
    until = time.time() + float(os.environ.get("FAKE_WORKER_WAIT", "3"))
    waited = 0
    while time.time() < until and mode == "preparing":
        send({"id": rid, "event": "progress", "stage": "preparing", "waited": waited,
              "message": "identifying plate frames %d/2000" % (waited * 100)})
        time.sleep(beat)
        waited += 1
    while time.time() < until:
        send({"id": rid, "event": "progress", "stage": "waiting", "segment": "1-fwd-1.0123456789abcdef",
              "done": 0, "total": 2, "stored": waited, "needed": 9, "waited": waited,
              "message": "waiting for another process building segment 1-fwd-1.0123456789abcdef "
                         "(%d/9 of the frames needed are stored)" % waited})
        time.sleep(beat)
        waited += 1
    for i, f in enumerate(range(first, last + 1)):
        path = frame_path(os.path.join(os.path.dirname(os.path.abspath(msg["shot"])), shot["output"]), f)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_frame(path, f)
        send({"id": rid, "event": "progress", "done": i + 1, "total": last - first + 1, "frame": f})
    send({"id": rid, "event": "result", "ok": True, "cancelled": False})


def main():
    note_pid("worker", os.getpid())
    for line in sys.stdin.buffer:
        msg = json.loads(line)
        rid, cmd = msg["id"], msg["cmd"]
        if cmd == "ping":
            send({"id": rid, "event": "result", "ok": True, "pid": os.getpid()})
        elif cmd == "backends":
            send({"id": rid, "event": "result", "ok": True, "backends": {}})
        elif cmd == "shutdown":
            send({"id": rid, "event": "result", "ok": True})
            return 0
        elif cmd == "analyze":
            threading.Thread(target=analyze, args=(rid, msg), daemon=True).start()
        else:
            send({"id": rid, "event": "result", "ok": False, "message": "not in the fake"})
    return 0


if __name__ == "__main__":
    sys.exit(main())

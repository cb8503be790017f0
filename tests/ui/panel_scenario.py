"""One reference-panel session, run as its own process under a given Qt binding.

    QT_API=pyside6|pyside2 python tests/ui/panel_scenario.py OUT_DIR

Drives the panel over an in-memory ShotSource (two shots), prints a JSON report of what the
panel showed at each step, and saves a screenshot (grab()) in OUT_DIR. Needs only Qt, qtpy
and this repository on PYTHONPATH (the PySide2 environment has nothing else).
"""
import json
import os
import sys
import threading
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import long_shot  # noqa: E402  (this folder: the script's own)
from nuke_colorize.host.references import RefRow  # noqa: E402
from nuke_colorize.ui.model import RefInfo, ShotInfo, ShotSource  # noqa: E402
from nuke_colorize.ui.panel import CoverageBar, ReferencePanel  # noqa: E402
from nuke_colorize.ui.qt import API, QtGui, QtWidgets  # noqa: E402


def make_image(path, colour, w=64, h=36):
    img = QtGui.QImage(w, h, QtGui.QImage.Format_RGB32)
    img.fill(QtGui.QColor(*colour))
    assert img.save(path), path
    return path


class Job(object):
    def __init__(self):
        self.cancelled = False

    def cancel(self):
        self.cancelled = True


class MemorySource(ShotSource):
    def __init__(self, images):
        self.frames = {"sh010": (1001, 1020)}
        self.rows = {"sh010": [RefRow(1001, "file", images["red"]), RefRow(None, "file", images["blue"])],
                     "sh020": [RefRow(1, "input", "", 1)]}
        self.cached = {"sh010": set(range(1001, 1006))}
        self.stale = {"sh010": set()}
        self.calls = []
        self.delay = 0.005

    def shots(self):
        out = []
        a, b = self.frames["sh010"]
        segs = []
        for f in range(a, b + 1):
            state = "cached" if f in self.cached["sh010"] else ("stale" if f in self.stale["sh010"] else "missing")
            if segs and segs[-1][2] == state:
                segs[-1] = (segs[-1][0], f, state)
            else:
                segs.append((f, f, state))
        n_cached = len(self.cached["sh010"])
        out.append(ShotInfo("sh010", "sh010", (a, b), [RefInfo(r, r.path or None) for r in self.rows["sh010"]],
                            segs, "cached %d/%d frames" % (n_cached, b - a + 1)))
        out.append(ShotInfo("Group1.sh020", "sh020", None, [RefInfo(r) for r in self.rows["sh020"]], [],
                            error="not ready: connect a plate to the node's plate input"))
        return out

    def set_references(self, key, rows):
        self.calls.append(("set_references", key, [r.to_dict() for r in rows]))
        self.rows[key] = list(rows)
        self.stale[key] |= self.cached[key]
        self.cached[key] = set()

    def analyze(self, key, on_progress, on_done):
        self.calls.append(("analyze", key))
        job = Job()
        a, b = self.frames[key]

        def run():
            total = b - a + 1
            for i, f in enumerate(range(a, b + 1)):
                if job.cancelled:
                    on_done(False, "cancelled after %d frame(s)" % i)
                    return
                time.sleep(self.delay)
                self.cached[key].add(f)
                self.stale[key].discard(f)
                on_progress(i + 1, total, f)
            on_done(True, "")
        threading.Thread(target=run).start()
        return job


def table(panel):
    rows = []
    for i in range(panel.ref_table.rowCount()):
        icon = panel.ref_table.item(i, 0).icon()
        rows.append([panel.ref_table.item(i, 1).text(), panel.ref_table.item(i, 2).text(),
                     not icon.isNull() and icon.pixmap(96, 54).width() > 0])
    return rows


def wait(app, cond, timeout=15.0):
    t0 = time.time()
    while not cond():
        app.processEvents()
        time.sleep(0.005)
        if time.time() - t0 > timeout:
            raise SystemExit("timed out")


def long_bar():
    """The coverage bar of :mod:`long_shot` (10,000 segments) painted at its width: the colour
    of each column of ``long_shot.COLUMNS`` and the tooltip's line count."""
    bar = CoverageBar()
    bar.resize(long_shot.WIDTH, 18)
    bar.set_segments(long_shot.FRAMES, long_shot.segments())
    image = bar.grab().toImage()
    pixels = {x: list(QtGui.QColor(image.pixel(x, 9)).getRgb()[:3]) for x in long_shot.COLUMNS}
    return {"size": [image.width(), image.height()], "pixels": pixels,
            "tooltip_lines": len(bar.toolTip().splitlines())}


def main(out_dir):
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    images = {name: make_image(os.path.join(out_dir, name + ext), colour) for name, ext, colour in
              (("red", ".png", (220, 40, 30)), ("green", ".png", (40, 200, 60)), ("blue", ".jpg", (30, 60, 220)),
               ("teal", ".png", (20, 160, 160)))}
    src = MemorySource(images)
    panel = ReferencePanel(src)
    panel.show()
    report = {"api": API}
    report["shots"] = [panel.shot_list.item(i).text() for i in range(panel.shot_list.count())]
    report["initial"] = table(panel)
    report["segments"] = [list(s) for s in panel.coverage.segments]
    report["add"] = panel.add_reference(images["green"], 1010)
    report["after_add"] = table(panel)
    report["duplicate"] = panel.add_reference(images["teal"], 1010)
    report["duplicate_message"] = panel.message.text()
    report["swap"] = panel.swap_reference(0, images["teal"])
    report["after_swap"] = table(panel)
    report["remove"] = panel.remove_reference(1)
    report["after_remove"] = table(panel)
    panel.ref_table.item(1, 1).setText("1015")  # edit a frame in place
    report["after_edit"] = table(panel)
    report["stale_segments"] = [list(s) for s in panel.coverage.segments]
    panel.choose_file = lambda caption: images["blue"]
    panel.choose_frame = lambda path: None
    panel.add_button.click()  # the button path, with the dialogs replaced
    report["after_click_add"] = table(panel)
    seen = []
    panel.progress.valueChanged.connect(seen.append)
    panel.start_analyze()
    report["busy_buttons"] = [panel.analyze_button.isEnabled(), panel.cancel_button.isEnabled()]
    wait(app, lambda: panel.job is None)
    report["progress_values"] = list(seen)
    report["after_analyze_segments"] = [list(s) for s in panel.coverage.segments]
    report["status"] = panel.status.text()
    path = os.path.join(out_dir, "panel_%s.png" % API.lower())
    panel.resize(820, 440)
    app.processEvents()
    report["screenshot"] = path if panel.grab().save(path) else None
    # a cancelled run keeps what was done
    src.delay = 0.05
    panel.ref_table.item(0, 1).setText("1002")
    panel.start_analyze()
    wait(app, lambda: panel.progress.value() > 0)
    report["during_segments"] = [list(s) for s in panel.coverage.segments]
    panel.cancel_analyze()
    wait(app, lambda: panel.job is None)
    report["cancel_message"] = panel.message.text()
    report["after_cancel_segments"] = [list(s) for s in panel.coverage.segments]
    panel.shot_list.setCurrentRow(1)
    report["second_shot"] = [panel.title.text(), panel.status.text(), table(panel),
                             panel.analyze_button.isEnabled()]
    report["calls"] = src.calls
    report["long_bar"] = long_bar()
    print(json.dumps(report))
    panel.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

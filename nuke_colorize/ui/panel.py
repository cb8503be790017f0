"""The reference panel: every Colorize shot in the script, its references, its cache.

Left: the shots (name and status line). Right, for the selected shot: a bar of its frame
range coloured by segment (green cached, orange stale, grey missing; a pixel column holding
several shows stale over missing over cached), the references with thumbnails and frames
(add, remove, swap the image of one, edit a frame in place), and Analyze with a progress bar
and Cancel.

Works with PySide2 and PySide6 through :mod:`nuke_colorize.ui.qt`. File and frame choices go
through ``choose_file`` / ``choose_frame`` so that hosts and tests can replace the dialogs.
"""
from __future__ import annotations

import os

from ..host.references import RefRow
from ..host.status import merge_runs
from .model import SEGMENT_COLOURS, column_runs, coverage_tooltip
from .qt import QtCore, QtGui, QtWidgets, Signal

THUMB = (96, 54)
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.tif *.tiff *.exr *.dpx);;All files (*)"


class CoverageBar(QtWidgets.QWidget):
    """Frame range as a bar coloured by segment state, at most one run per pixel column
    (:func:`~nuke_colorize.ui.model.column_runs`: a column holding several states shows the
    most severe), so any number of segments paints a few rectangles; the tooltip lists the
    first runs and counts the rest (:func:`~nuke_colorize.ui.model.coverage_tooltip`)."""

    def __init__(self, parent=None):
        super(CoverageBar, self).__init__(parent)
        self.segments = []
        self.frames = None
        self._runs = None
        self.setMinimumHeight(18)
        self.setSizePolicy(QtWidgets.QSizePolicy.Expanding, QtWidgets.QSizePolicy.Fixed)

    def set_segments(self, frames, segments):
        self.frames = frames
        self.segments = list(segments)
        self._runs = None
        self.setToolTip(coverage_tooltip(self.segments))
        self.update()

    def runs(self, width):
        """Column runs at ``width`` pixels, computed once per set of segments and width."""
        if self._runs is None or self._runs[0] != width:
            self._runs = (width, column_runs(self.frames, self.segments, width))
        return self._runs[1]

    def paintEvent(self, event):
        painter = QtGui.QPainter(self)
        rect = self.rect()
        painter.fillRect(rect, QtGui.QColor(40, 40, 40))
        for first, last, state in self.runs(rect.width()):
            painter.fillRect(QtCore.QRect(rect.left() + first, rect.top(), last - first + 1, rect.height()),
                             QtGui.QColor(*SEGMENT_COLOURS[state]))
        painter.end()


class _Relay(QtCore.QObject):
    """Carries callbacks from any thread to the Qt main thread (queued signals)."""

    progress = Signal(int, int, int)
    done = Signal(bool, str)


def thumbnail(path, size=THUMB):
    """QPixmap of an image file scaled into ``size`` (a labelled placeholder when Qt cannot read it)."""
    w, h = size
    if path and os.path.isfile(path):
        reader = QtGui.QImageReader(path)
        if reader.canRead():
            src = reader.size()
            if src.isValid() and src.width() > 0 and src.height() > 0:
                scale = min(w / float(src.width()), h / float(src.height()))
                reader.setScaledSize(QtCore.QSize(max(1, int(src.width() * scale)),
                                                  max(1, int(src.height() * scale))))
            image = reader.read()
            if not image.isNull():
                return QtGui.QPixmap.fromImage(image)
    pix = QtGui.QPixmap(w, h)
    pix.fill(QtGui.QColor(60, 60, 60))
    painter = QtGui.QPainter(pix)
    painter.setPen(QtGui.QColor(200, 200, 200))
    label = os.path.splitext(path or "")[1].lstrip(".").upper() or "?"
    if path and not os.path.isfile(path):
        label = "missing"
    metrics = painter.fontMetrics()  # centred by hand: no alignment flags (see _build)
    x = max(0, (w - metrics.horizontalAdvance(label)) // 2)
    painter.drawText(x, (h + metrics.ascent() - metrics.descent()) // 2, label)
    painter.end()
    return pix


def with_frame_cached(segments, frame):
    """Runs [(first, last, state)] with ``frame`` cached (an analysis has just stored it)."""
    out = []
    for a, b, state in segments:
        if a <= frame <= b and state != "cached":
            out.extend([(a, frame - 1, state)] if a < frame else [])
            out.append((frame, frame, "cached"))
            out.extend([(frame + 1, b, state)] if frame < b else [])
        else:
            out.append((a, b, state))
    return merge_runs(out)


class ReferencePanel(QtWidgets.QWidget):
    """The panel. ``source`` is a :class:`nuke_colorize.ui.model.ShotSource`."""

    def __init__(self, source, parent=None):
        super(ReferencePanel, self).__init__(parent)
        self.source = source
        self.shots = []
        self.job = None
        self.choose_file = self._dialog_file
        self.choose_frame = self._dialog_frame
        self.setWindowTitle("Colorize references")
        self._relay = _Relay()
        self._relay.progress.connect(self._on_progress)
        self._relay.done.connect(self._on_done)
        self._build()
        self.refresh()

    # ------------------------------------------------------------------ layout
    def _build(self):
        self.shot_list = QtWidgets.QListWidget()
        self.shot_list.setMinimumWidth(200)
        self.shot_list.setWordWrap(True)
        self.shot_list.currentRowChanged.connect(self._show_shot)
        self.title = QtWidgets.QLabel()
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.status = QtWidgets.QLabel()
        self.status.setWordWrap(True)
        self.coverage = CoverageBar()
        self.ref_table = QtWidgets.QTableWidget(0, 3)
        self.ref_table.setHorizontalHeaderLabels(["", "frame", "image"])
        self.ref_table.setIconSize(QtCore.QSize(*THUMB))
        self.ref_table.verticalHeader().setDefaultSectionSize(THUMB[1] + 6)
        self.ref_table.verticalHeader().setVisible(False)
        self.ref_table.horizontalHeader().setStretchLastSection(True)
        self.ref_table.setColumnWidth(0, THUMB[0] + 8)
        self.ref_table.setColumnWidth(1, 60)
        self.ref_table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectRows)
        self.ref_table.setSelectionMode(QtWidgets.QAbstractItemView.SingleSelection)
        # Only the frame column is edited (double-click). No item-flag arithmetic anywhere:
        # it breaks with some PySide2 builds.
        self.ref_table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.ref_table.itemDoubleClicked.connect(self._edit_frame)
        self.ref_table.itemChanged.connect(self._frame_edited)
        self.add_button = QtWidgets.QPushButton("Add...")
        self.remove_button = QtWidgets.QPushButton("Remove")
        self.swap_button = QtWidgets.QPushButton("Swap image...")
        self.refresh_button = QtWidgets.QPushButton("Refresh")
        self.add_button.clicked.connect(lambda: self.add_reference())
        self.remove_button.clicked.connect(lambda: self.remove_reference())
        self.swap_button.clicked.connect(lambda: self.swap_reference())
        self.refresh_button.clicked.connect(self.refresh)
        self.analyze_button = QtWidgets.QPushButton("Analyze")
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.analyze_button.clicked.connect(self.start_analyze)
        self.cancel_button.clicked.connect(self.cancel_analyze)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.message = QtWidgets.QLabel()
        self.message.setWordWrap(True)

        buttons = QtWidgets.QHBoxLayout()
        for b in (self.add_button, self.remove_button, self.swap_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)
        run = QtWidgets.QHBoxLayout()
        run.addWidget(self.analyze_button)
        run.addWidget(self.progress, 1)
        run.addWidget(self.cancel_button)
        right = QtWidgets.QVBoxLayout()
        right.addWidget(self.title)
        right.addWidget(self.coverage)
        right.addWidget(self.status)
        right.addWidget(self.ref_table, 1)
        right.addLayout(buttons)
        right.addLayout(run)
        right.addWidget(self.message)
        split = QtWidgets.QHBoxLayout(self)
        split.addWidget(self.shot_list)
        holder = QtWidgets.QWidget()
        holder.setLayout(right)
        split.addWidget(holder, 1)
        self.resize(760, 420)

    # ------------------------------------------------------------------ data
    def refresh(self):
        """Reload every shot from the source, keeping the selected one."""
        key = self.current_key()
        self.shots = list(self.source.shots())
        self.shot_list.blockSignals(True)
        self.shot_list.clear()
        for shot in self.shots:
            item = QtWidgets.QListWidgetItem("%s\n%s" % (shot.name, shot.error or shot.status))
            self.shot_list.addItem(item)
        self.shot_list.blockSignals(False)
        keys = [s.key for s in self.shots]
        row = keys.index(key) if key in keys else (0 if keys else -1)
        self.shot_list.setCurrentRow(row)
        self._show_shot(row)

    def current_key(self):
        shot = self.current_shot()
        return shot.key if shot else None

    def current_shot(self):
        row = self.shot_list.currentRow() if hasattr(self, "shot_list") else -1
        return self.shots[row] if 0 <= row < len(self.shots) else None

    def select_shot(self, key):
        for i, s in enumerate(self.shots):
            if s.key == key:
                self.shot_list.setCurrentRow(i)
                return True
        return False

    def _show_shot(self, row):
        shot = self.shots[row] if 0 <= row < len(self.shots) else None
        self.ref_table.blockSignals(True)
        self.ref_table.setRowCount(0)
        if shot is None:
            self.title.setText("No Colorize node in the script")
            self.status.setText("")
            self.coverage.set_segments(None, [])
            self.ref_table.blockSignals(False)
            self._enable(False)
            return
        frames = "%d-%d" % shot.frames if shot.frames else "?"
        self.title.setText("%s   frames %s" % (shot.name, frames))
        self.status.setText(shot.error or shot.status)
        self.coverage.set_segments(shot.frames, shot.segments)
        for i, ref in enumerate(shot.references):
            self.ref_table.insertRow(i)
            thumb = QtWidgets.QTableWidgetItem()
            thumb.setIcon(QtGui.QIcon(thumbnail(ref.thumbnail)))
            frame = QtWidgets.QTableWidgetItem("still" if ref.frame is None else str(ref.frame))
            frame.setToolTip("plate frame this reference is a colour version of ('still': no frame)")
            image = QtWidgets.QTableWidgetItem(ref.describe())
            image.setToolTip(ref.describe())
            self.ref_table.setItem(i, 0, thumb)
            self.ref_table.setItem(i, 1, frame)
            self.ref_table.setItem(i, 2, image)
        self.ref_table.blockSignals(False)
        self._enable(self.job is None)

    def _enable(self, on):
        shot = self.current_shot()
        for w in (self.add_button, self.remove_button, self.swap_button):
            w.setEnabled(bool(on) and shot is not None)
        self.analyze_button.setEnabled(bool(on) and shot is not None and not shot.error)

    def _rows(self):
        shot = self.current_shot()
        return [RefRow(r.row.frame, r.row.source, r.row.path, r.row.input_frame) for r in shot.references]

    def _apply(self, rows):
        key = self.current_key()
        try:
            self.source.set_references(key, rows)
        except Exception as err:  # noqa: BLE001 - show, do not crash the host's UI
            self.message.setText("Could not change the references: %s" % err)
        else:
            self.message.setText("")
        self.refresh()

    # ------------------------------------------------------------------ editing
    def selected_row(self):
        rows = self.ref_table.selectionModel().selectedRows()
        return rows[0].row() if rows else -1

    def add_reference(self, path=None, frame="ask"):
        """Add an image; ``frame`` None makes it a still. Without arguments, asks."""
        if self.current_shot() is None:
            return False
        path = path or self.choose_file("Add a colour reference")
        if not path:
            return False
        if frame == "ask":
            frame = self.choose_frame(path)
            if frame == "cancel":
                return False
        rows = self._rows()
        if frame is not None and any(r.frame == frame for r in rows):
            self.message.setText("Frame %d already has a reference: swap its image instead." % frame)
            return False
        rows.append(RefRow(frame, "file", path))
        self._apply(rows)
        return True

    def remove_reference(self, row=None):
        row = self.selected_row() if row is None else row
        rows = self._rows()
        if not 0 <= row < len(rows):
            return False
        del rows[row]
        self._apply(rows)
        return True

    def swap_reference(self, row=None, path=None):
        """Replace the image of one reference, keeping its frame."""
        row = self.selected_row() if row is None else row
        rows = self._rows()
        if not 0 <= row < len(rows):
            return False
        path = path or self.choose_file("Swap the image of this reference")
        if not path:
            return False
        old = rows[row]
        rows[row] = RefRow(old.frame, "file", path)
        self._apply(rows)
        return True

    def set_frame(self, row, frame):
        rows = self._rows()
        if not 0 <= row < len(rows):
            return False
        if frame is not None and any(r.frame == frame for i, r in enumerate(rows) if i != row):
            self.message.setText("Frame %d already has a reference." % frame)
            self.refresh()
            return False
        old = rows[row]
        input_frame = old.input_frame
        if old.source == "input" and old.input_frame == old.frame and frame is not None:
            input_frame = frame
        rows[row] = RefRow(frame, old.source, old.path, input_frame)
        self._apply(rows)
        return True

    def _edit_frame(self, item):
        if item.column() == 1:
            self.ref_table.editItem(item)

    def _frame_edited(self, item):
        if item.column() != 1:
            return
        text = item.text().strip().lower()
        if text in ("still", "", "-"):
            frame = None
        else:
            try:
                frame = int(text)
            except ValueError:
                self.message.setText("'%s' is not a frame number (or 'still')" % item.text())
                self.refresh()
                return
        self.set_frame(item.row(), frame)

    # ------------------------------------------------------------------ analyze
    def start_analyze(self):
        shot = self.current_shot()
        if shot is None or self.job is not None:
            return None
        self.progress.setValue(0)
        self.job_key = shot.key
        self.message.setText("Analysing %s..." % shot.name)
        self._enable(False)
        self.cancel_button.setEnabled(True)
        relay = self._relay

        def on_progress(done, total, frame):
            relay.progress.emit(int(done), int(total), int(frame if frame is not None else -1))

        def on_done(ok, message):
            relay.done.emit(bool(ok), str(message or ""))

        try:
            self.job = self.source.analyze(shot.key, on_progress, on_done)
        except Exception as err:  # noqa: BLE001
            self.job = None
            self._on_done(False, str(err))
        return self.job

    def cancel_analyze(self):
        if self.job is not None:
            self.job.cancel()
            self.message.setText("Cancelling (frames already done are kept)...")
            self.cancel_button.setEnabled(False)

    def _on_progress(self, done, total, frame):
        if total > 0:
            self.progress.setValue(int(100 * done / total))
        if frame >= 0:
            self.message.setText("Analysing frame %d (%d/%d)" % (frame, done, total))
            if self.current_key() == getattr(self, "job_key", None):   # the bar follows the cache
                self.coverage.set_segments(self.coverage.frames, with_frame_cached(self.coverage.segments, frame))

    def _on_done(self, ok, message):
        self.job = None
        self.cancel_button.setEnabled(False)
        if ok:
            self.progress.setValue(100)
        self.refresh()
        self.message.setText(message or ("Done." if ok else "Stopped."))

    # ------------------------------------------------------------------ dialogs
    def _dialog_file(self, caption):
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, caption, "", IMAGE_FILTER)
        return path or None

    def _dialog_frame(self, path):
        """Plate frame for a new reference: a number, None for a still, "cancel"."""
        shot = self.current_shot()
        default = shot.frames[0] if shot and shot.frames else 1
        text, ok = QtWidgets.QInputDialog.getText(
            self, "Reference frame", "Plate frame this image is a colour version of\n"
            "(leave empty for a still used for matching only):", QtWidgets.QLineEdit.Normal, str(default))
        if not ok:
            return "cancel"
        text = text.strip()
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            self.message.setText("'%s' is not a frame number" % text)
            return "cancel"

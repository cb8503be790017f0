"""The progress line: redrawn in place on a terminal, plain throttled lines in logs."""
import io

from nuke_colorize.render import ProgressBar


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_log_stream_gets_first_and_last_line_only_within_the_interval():
    out = io.StringIO()
    bar = ProgressBar(100, stream=out, log_interval=3600)
    for f in range(1001, 1101):
        bar.step(f)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert len(lines) == 2
    assert lines[0].startswith("progress 1/100 frame 1001")
    assert lines[1].startswith("progress 100/100 frame 1100")


def test_log_stream_reports_again_after_the_interval():
    out = io.StringIO()
    bar = ProgressBar(3, stream=out, log_interval=0.0)
    for f in (1, 2, 3):
        bar.step(f)
    assert len(out.getvalue().splitlines()) == 3


def test_terminal_redraws_one_line_and_ends_it():
    out = _Tty()
    bar = ProgressBar(4, stream=out)
    for f in range(4):
        bar.step(f)
    text = out.getvalue()
    assert text.count("\r") == 4 and text.endswith("\n") and text.count("\n") == 1
    assert "4/4 frame 3" in text


def test_disabled_writes_nothing():
    out = io.StringIO()
    bar = ProgressBar(2, enabled=False, stream=out)
    bar.step(1)
    bar.step(2)
    assert out.getvalue() == ""

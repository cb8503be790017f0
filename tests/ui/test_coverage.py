"""The coverage bar's runs and tooltip (:mod:`nuke_colorize.ui.model`), without Qt: at most one
run per pixel column, the most severe state of a column shown, a tooltip of bounded length
whatever the number of segments. The bar painted from them under both Qt bindings is checked
by the panel scenario (tests/ui/test_panel.py)."""
from __future__ import annotations

import long_shot
from nuke_colorize.host import status
from nuke_colorize.ui.model import TOOLTIP_RUNS, column_runs, coverage_tooltip


def test_a_long_shot_paints_one_run_per_state_change_and_keeps_a_lone_stale_frame():
    runs = column_runs(long_shot.FRAMES, long_shot.segments(), long_shot.WIDTH)
    assert runs == [(0, 248, "cached"), (249, 249, "stale"), (250, 449, "cached"), (450, 499, "missing")]
    for column, want in long_shot.COLUMNS.items():
        assert [s for a, b, s in runs if a <= column <= b] == [want]


def test_a_column_of_several_states_shows_stale_over_missing_over_cached():
    frames = (1, 40)                            # 4 frames per column at width 10
    segs = [(1, 2, "cached"), (3, 4, "missing"),          # column 0: cached + missing
            (5, 6, "missing"), (7, 8, "stale"),           # column 1: missing + stale
            (9, 10, "cached"), (11, 12, "stale"),         # column 2: cached + stale
            (13, 40, "cached")]
    assert column_runs(frames, segs, 10) == [(0, 0, "missing"), (1, 2, "stale"), (3, 9, "cached")]
    assert column_runs(frames, list(reversed(segs)), 10) == column_runs(frames, segs, 10)   # order-free


def test_alternating_frames_are_one_run_not_one_rectangle_per_segment():
    segs = [(f, f, "cached" if f % 2 else "missing") for f in range(1, 20001)]
    assert column_runs((1, 20000), segs, 300) == [(0, 299, "missing")]


def test_fewer_frames_than_pixels_widen_each_frame_and_leave_gaps_unpainted():
    segs = [(1001, 1005, "cached"), (1011, 1020, "stale")]       # 1006-1010: no segment
    assert column_runs((1001, 1020), segs, 100) == [(0, 24, "cached"), (50, 99, "stale")]
    # a frame boundary inside a column: the column shows the more severe of the two
    assert column_runs((1, 3), [(1, 1, "cached"), (2, 3, "missing")], 10) == [(0, 2, "cached"), (3, 9, "missing")]


def test_segments_outside_the_range_unknown_states_and_no_room():
    segs = [(-50, 0, "stale"), (1, 5, "mystery"), (6, 10, "cached"), (11, 99, "stale"), (8, 7, "stale")]
    assert column_runs((1, 10), segs, 10) == [(0, 4, "missing"), (5, 9, "cached")]
    assert column_runs((1, 10), segs, 0) == []
    assert column_runs(None, segs, 10) == []
    assert column_runs((10, 1), segs, 10) == []                  # a reversed range: nothing to show


def test_the_tooltip_merges_adjacent_segments_of_one_state():
    assert coverage_tooltip(long_shot.segments()).splitlines() == [
        "1-4999: cached", "5000-5000: stale", "5001-9000: cached", "9001-10000: missing"]
    assert coverage_tooltip([]) == ""


def test_the_tooltip_lists_the_first_runs_and_counts_the_rest():
    segs = [(f, f, "cached" if f % 3 else "stale") for f in range(1, 10001)]
    lines = coverage_tooltip(segs).splitlines()
    assert len(lines) == TOOLTIP_RUNS + 1
    assert lines[:3] == ["1-2: cached", "3-3: stale", "4-5: cached"]
    runs = len(status.merge_runs(segs))
    assert lines[-1] == "... and %d more (frames in all: 6667 cached, 3333 stale)" % (runs - TOOLTIP_RUNS)


def test_status_segments_are_the_merged_per_frame_states():
    states = [(1, "cached"), (2, "cached"), (3, "stale"), (5, "stale"), (6, "missing")]
    assert status.segments(states) == [(1, 2, "cached"), (3, 3, "stale"), (5, 5, "stale"), (6, 6, "missing")]

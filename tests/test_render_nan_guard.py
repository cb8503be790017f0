"""A result holding NaN/Inf is refused with file and frame named, and nothing is written
(the last line of defence behind the settings' range checks)."""
import numpy as np
import pytest

from nuke_colorize.errors import InputError
from nuke_colorize.pipeline import FrameOutput
from nuke_colorize.render import RenderJob, write_frame


def test_nan_result_is_not_written(tmp_path):
    rgb = np.full((4, 6, 3), 0.5, np.float32)
    rgb[1, 2, 0] = np.nan
    out = FrameOutput(frame=7, rgb=rgb, ab=np.zeros((4, 6, 2), np.float32),
                      confidence=np.ones((4, 6), np.float32))
    job = RenderJob(plate=str(tmp_path / "p.####.exr"), frames=[7], references=[],
                    output=str(tmp_path / "out" / "c.####.exr"))
    with pytest.raises(InputError) as err:
        write_frame(job, out, None, "linear", [], {})
    text = str(err.value)
    assert "c.0007.exr" in text and "frame 7" in text and "NaN/Inf" in text and "not written" in text
    assert not (tmp_path / "out").exists()

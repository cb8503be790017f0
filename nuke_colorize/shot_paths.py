"""Where a shot's cache and output go when its description does not say (stdlib only).

Shared by :mod:`nuke_colorize.shot` (the full reader) and :mod:`nuke_colorize.farm.shotinfo`
(the farm's minimal reader, used where numpy cannot be imported), so both name the same files.
"""
from __future__ import annotations

import os
from typing import Optional

DEFAULT_OUTPUT_NAME = os.path.join("output", "colour.####.exr")


def default_cache(shot_path: Optional[str], base_dir: str) -> str:
    """The cache folder of a shot file without ``cache``: ``<stem>_cache`` beside it
    (``shot_cache`` for a description without a file)."""
    stem = os.path.splitext(os.path.basename(shot_path))[0] if shot_path else "shot"
    return os.path.join(base_dir, f"{stem}_cache")


def default_output(cache: str) -> str:
    """The output pattern of a shot without ``output``: ``<cache>/output/colour.####.exr``."""
    return os.path.join(cache, DEFAULT_OUTPUT_NAME)

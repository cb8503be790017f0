"""Plate and image I/O: Nuke-style sequences, OpenImageIO images, OpenCV movies, atomic writes.

Modules: :mod:`.sequence` (patterns and frame ranges), :mod:`.atomic` (temp + fsync + rename),
:mod:`.image` (read/write one image), :mod:`.movie` (movies through OpenCV), :mod:`.plate`
(a checked plate of frames), :mod:`.windows` (data/display windows: lining images up).
OpenImageIO and OpenCV are imported on first use only.
"""
from __future__ import annotations

from .atomic import (OutputError, atomic_path, atomic_write_bytes, atomic_write_text, cleanup_stale_temps,
                     is_temp_name)
from .image import (DEFAULT_MAX_PIXELS, ImageData, channel_layout, check_finite, check_writable,
                    compose_channels, default_dtype, image_size, read_image, read_spec, write_image)
from .movie import MovieReader, is_movie, movie_frame_count, read_movie_frame
from .plate import PlateSource, file_identity, file_sha256
from .sequence import (format_frames, frame_path, is_pattern, match_frame, parse_frames, same_target,
                       scan_frames, split_pattern_and_range, to_hashes, to_printf)

__all__ = [
    "OutputError", "atomic_path", "atomic_write_bytes", "atomic_write_text", "cleanup_stale_temps",
    "is_temp_name", "DEFAULT_MAX_PIXELS", "ImageData", "channel_layout", "check_finite", "check_writable",
    "compose_channels",
    "default_dtype", "image_size", "read_image", "read_spec", "write_image", "MovieReader", "is_movie",
    "movie_frame_count", "read_movie_frame", "PlateSource", "file_identity", "file_sha256", "format_frames",
    "frame_path",
    "is_pattern", "match_frame", "parse_frames", "same_target", "scan_frames", "split_pattern_and_range",
    "to_hashes", "to_printf",
]

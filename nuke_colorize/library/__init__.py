"""Automatic references: an index of colour stills and retrieval by luminance similarity.

:mod:`.descriptors` (global descriptors of an image's luminance), :mod:`.index` (the on-disk
index, incremental), :mod:`.query` (ranking), :mod:`.auto` (scene-split plans for render).
"""

"""Host integration: everything the compositing application side needs.

Modules here run inside the host application's embedded Python (Nuke: 3.7 to 3.11), so they
use the standard library only: no numpy, no torch, no OpenImageIO, and no syntax newer than
Python 3.7. The engine runs in the product's own environment and is reached through
:mod:`nuke_colorize.host.bridge` (a worker subprocess speaking :mod:`~.protocol`).

Only :mod:`nuke_colorize.host.nuke` imports ``nuke``.
"""

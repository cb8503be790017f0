# nuke-colorize plug-in: paths and the render hook only (no UI, no torch).
# Nuke runs this file at every start-up, farm renders included. Written by install/install.py.
import os
import sys

import nuke

try:
    _nc_here = os.path.dirname(os.path.abspath(__file__))
except NameError:  # Nuke versions that run init.py without __file__
    _nc_here = r"@PLUGIN_DIR@"

# The folder holds the host side of nuke_colorize only; appended, not put first, so that nothing
# in it can replace a module the studio's own tools import.
_nc_python = os.path.join(_nc_here, "python")
if _nc_python not in sys.path:
    sys.path.append(_nc_python)
os.environ.setdefault("NUKE_COLORIZE_CONFIG", os.path.join(_nc_here, "nuke_colorize.json"))
nuke.pluginAddPath(os.path.join(_nc_here, "gizmos"), addToSysPath=False)

try:
    from nuke_colorize.host.nuke import render as _nc_render
    _nc_render.install()
except Exception as _nc_err:  # never stop Nuke from starting
    sys.stderr.write("nuke-colorize: render hook not installed: %s\n" % (_nc_err,))

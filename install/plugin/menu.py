# nuke-colorize plug-in: toolbar and menu entries (GUI sessions only). Written by install/install.py.
import sys

try:
    from nuke_colorize.host.nuke import menu as _nc_menu
    _nc_menu.install()
except Exception as _nc_err:
    sys.stderr.write("nuke-colorize: menus not installed: %s\n" % (_nc_err,))

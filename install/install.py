#!/usr/bin/env python3
"""Install nuke-colorize into Nuke in one step, or remove it again.

    python install/install.py [--nuke-dir ~/.nuke] [--engine-python PATH] [--studio] [--uninstall]

What it does (every step is idempotent; ``--uninstall`` undoes exactly what was done):

1. The engine: reuses ``--engine-python`` (a Python where nuke-colorize is installed), or a
   venv it created before, or creates one (``<plug-in folder>/engine``) and pip-installs this
   repository into it. Nuke never imports the engine; it starts ``<engine python> -m
   nuke_colorize worker`` when a node needs it.
2. The plug-in folder (``<nuke dir>/nuke_colorize`` unless ``--plugin-dir``): ``init.py``
   (paths and the render hook only: it runs on every farm task), ``menu.py`` (toolbar and
   menu), ``gizmos/Colorize.nk``, ``python/`` (the host side of the package: standard library
   only; the reference panel uses the PySide that Nuke ships) and ``nuke_colorize.json`` (where
   the engine is, and every file written, for the uninstall). No third-party package goes into
   ``python/``: that folder is on sys.path in every Nuke session, where a copy could shadow the
   studio's own, and one copied from the engine's newer Python does not import in Nuke 13's
   Python 3.7.
3. Wiring: a marked block in ``<nuke dir>/init.py`` that adds the plug-in folder, or with
   ``--studio`` nothing is touched and the NUKE_PATH line to add to the studio environment is
   printed instead.

Runs on the Python the user has (3.7 or newer), standard library only.
"""
from __future__ import print_function

import argparse
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CONFIG_NAME = "nuke_colorize.json"
BEGIN = "# >>> nuke-colorize >>>"
END = "# <<< nuke-colorize <<<"
BLOCK_NOTE = "(added by nuke-colorize install/install.py; remove with: install.py --uninstall)"
FLAG_NEWLINE = "[newline-added]"
FLAG_CREATED = "[file-created]"
HOST_FILES = ("__init__.py", "errors.py")
HOST_DIRS = ("host", "ui")


class InstallError(Exception):
    pass


def log(msg):
    print("nuke-colorize install: " + msg)


# ----------------------------------------------------------------------------- files
def write_if_changed(path, data):
    """Write bytes atomically unless the file already holds them; True when written. A file
    written again keeps its permissions (a private 0600 init.py stays private)."""
    mode = None
    try:
        with open(path, "rb") as fh:
            if fh.read() == data:
                return False
            mode = stat.S_IMODE(os.fstat(fh.fileno()).st_mode)
    except (IOError, OSError):
        pass
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        os.makedirs(folder)
    tmp = path + ".tmp-install"
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    if mode is not None:
        os.chmod(tmp, mode)
    os.replace(tmp, path)
    return True


def read_bytes(path):
    with open(path, "rb") as fh:
        return fh.read()


def package_version():
    init = os.path.join(REPO, "nuke_colorize", "__init__.py")
    for line in read_bytes(init).decode("utf-8").splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    raise InstallError("cannot read the package version from %s" % init)


def plugin_files():
    """{relative path in the plug-in folder: bytes} for everything the plug-in ships."""
    files = {}
    pkg = os.path.join(REPO, "nuke_colorize")
    for name in HOST_FILES:
        files[os.path.join("python", "nuke_colorize", name)] = read_bytes(os.path.join(pkg, name))
    for sub in HOST_DIRS:
        base = os.path.join(pkg, sub)
        for folder, dirs, names in os.walk(base):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(names):
                if name.endswith(".py"):
                    full = os.path.join(folder, name)
                    rel = os.path.relpath(full, pkg)
                    files[os.path.join("python", "nuke_colorize", rel)] = read_bytes(full)
    files[os.path.join("gizmos", "Colorize.nk")] = read_bytes(os.path.join(REPO, "gizmos", "Colorize.nk"))
    for name in ("init.py", "menu.py"):
        files[name] = read_bytes(os.path.join(HERE, "plugin", name))
    return files


# ----------------------------------------------------------------------------- engine
def probe_engine(python):
    """The version of nuke-colorize in ``python``; raises InstallError."""
    code = ("import json, nuke_colorize\n"
            "print(json.dumps({'version': nuke_colorize.__version__}))")
    import tempfile
    # as Nuke's bridge starts it: from a neutral folder (a nuke_colorize in the current folder
    # does not count) and without PYTHONHOME/PYTHONPATH
    try:
        out = subprocess.check_output([python, "-c", code], stderr=subprocess.STDOUT, cwd=tempfile.gettempdir(),
                                      env=engine_env())
    except (OSError, subprocess.CalledProcessError) as err:
        detail = getattr(err, "output", b"") or b""
        raise InstallError("%s cannot import nuke_colorize: %s %s"
                           % (python, err, detail.decode("utf-8", "replace").strip()[-300:]))
    info = json.loads(out.decode("utf-8").strip().splitlines()[-1])
    return info["version"]


def engine_env():
    """The environment the engine's python runs in, here as under Nuke's bridge: without
    PYTHONHOME/PYTHONPATH (pip would count packages on the shell's PYTHONPATH as installed)."""
    return dict((k, v) for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH"))


def venv_python(engine_dir):
    if os.name == "nt":
        return os.path.join(engine_dir, "Scripts", "python.exe")
    return os.path.join(engine_dir, "bin", "python")


def required_python():
    """The engine's minimum Python, (major, minor), from pyproject.toml's requires-python."""
    text = read_bytes(os.path.join(REPO, "pyproject.toml")).decode("utf-8")
    match = re.search(r'^requires-python\s*=\s*"\s*>=\s*(\d+)\.(\d+)', text, re.M)
    if match is None:
        raise InstallError("cannot read requires-python from %s" % os.path.join(REPO, "pyproject.toml"))
    return int(match.group(1)), int(match.group(2))


def check_engine_base_python(version=None):
    """The engine venv is made with the Python running this script: refuse one older than the
    package needs before anything is created (pip would fail later, after the venv is made)."""
    need = required_python()
    have = tuple((version or sys.version_info)[:2])
    if have < need:
        raise InstallError(
            "the engine needs Python %d.%d or newer and this is Python %d.%d (%s): run the installer "
            "with a newer Python (e.g. python3.11 install/install.py ...), or give --engine-python "
            "a Python where nuke-colorize is installed" % (need + have + (sys.executable,)))


def ensure_engine(args, plugin_dir, previous):
    """(engine python, created by us)."""
    want = package_version()
    if args.engine_python:
        python = os.path.abspath(os.path.expanduser(args.engine_python))
        version = probe_engine(python)
        if version != want:
            raise InstallError("%s has nuke-colorize %s, this repository is %s" % (python, version, want))
        return python, False
    engine_dir = os.path.abspath(os.path.expanduser(args.engine_dir or os.path.join(plugin_dir, "engine")))
    python = venv_python(engine_dir)
    ours = engine_dir.startswith(plugin_dir + os.sep)
    created = ours or (bool(previous.get("engine_created")) and previous.get("engine_python") == python)
    if os.path.isfile(python):
        try:
            if probe_engine(python) == want:
                log("reusing the engine in %s" % engine_dir)
                return python, created
        except InstallError:
            pass
    if not os.path.isfile(python):
        check_engine_base_python()
        log("creating the engine environment in %s" % engine_dir)
        subprocess.check_call([sys.executable, "-m", "venv", engine_dir])
        created = True
    log("installing nuke-colorize into the engine (this downloads torch the first time)")
    subprocess.check_call([python, "-m", "pip", "install", "--upgrade", REPO], env=engine_env())
    probe_engine(python)
    return python, created


# ----------------------------------------------------------------------------- init.py block
def block_text(plugin_dir, flags):
    return "\n".join([
        "%s %s%s" % (BEGIN, BLOCK_NOTE, "".join(" " + f for f in flags)),
        "import nuke",
        _add_path_line(plugin_dir),
        END,
    ]) + "\n"


def _add_path_line(plugin_dir):
    """The block's pluginAddPath line, ASCII whatever the path (``ascii()`` escapes the rest), so
    that it means the same in an init.py of any encoding."""
    return "nuke.pluginAddPath(%s)" % ascii(plugin_dir)


def _decode(data):
    """init.py bytes -> text and back (_encode) byte for byte, whatever the file's encoding."""
    return data.decode("utf-8", "surrogateescape")


def _encode(text):
    return text.encode("utf-8", "surrogateescape")


def find_block(text):
    """(start, end) character offsets of our block (end after its newline), or None."""
    start = text.find(BEGIN)
    if start < 0:
        return None
    stop = text.find(END, start)
    if stop < 0:
        raise InstallError("init.py has the start of a nuke-colorize block but not its end (%s)" % END)
    end = stop + len(END)
    for newline in ("\r\n", "\n"):  # an editor may have turned the file's newlines into CRLF
        if text.startswith(newline, end):
            end += len(newline)
            break
    return start, end


def check_init_py(init_py, plugin_dir):
    """Refuse an init.py that is a symbolic link (a studio's shared file, a dotfiles checkout):
    writing the block would either edit the file it points to, for everyone who uses it, or
    replace the link with a copy, which the uninstall cannot turn back into the link."""
    if os.path.islink(init_py):
        raise InstallError("%s is a symbolic link to %s: nothing installed (the block would go into the file "
                           "it points to, or replace the link with a copy); install with --studio instead, "
                           "which leaves init.py alone and prints the NUKE_PATH line to add, then add that, "
                           "or the line %s in the file the link points to"
                           % (init_py, os.path.realpath(init_py), _add_path_line(plugin_dir)))


def check_writable(folder, what, hint):
    """Refuse, before anything is written, a folder this user cannot write into (read-only file
    system, another user's): or the install would stop part way, after the engine and the
    plug-in folder, naming a temporary file. A folder still to be created counts as the nearest
    existing one above it."""
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InstallError("cannot write into %s (%s): nothing installed; %s" % (folder, what, hint))


def add_block(init_py, plugin_dir):
    """Insert or replace the block; the header records what to undo. True when changed."""
    check_init_py(init_py, plugin_dir)
    exists = os.path.isfile(init_py)
    text = _decode(read_bytes(init_py)) if exists else ""
    span = find_block(text)
    if span is not None:
        header = text[span[0]:text.find("\n", span[0])]
        flags = [f for f in (FLAG_NEWLINE, FLAG_CREATED) if f in header]
        new = text[:span[0]] + block_text(plugin_dir, flags) + text[span[1]:]
    else:
        flags = []
        prefix = text
        if not exists:
            flags.append(FLAG_CREATED)
        elif text and not text.endswith("\n"):
            flags.append(FLAG_NEWLINE)
            prefix += "\n"
        new = prefix + block_text(plugin_dir, flags)
    return write_if_changed(init_py, _encode(new))


def remove_block(init_py, plugin_dir):
    """Remove the block that adds ``plugin_dir``, restoring the file byte for byte. True when
    something was removed; a block of another plug-in folder (a personal install beside the
    studio one being removed) is left alone."""
    if not os.path.isfile(init_py):
        return False
    text = _decode(read_bytes(init_py))
    span = find_block(text)
    if span is None:
        return False
    block = text[span[0]:span[1]]
    if _add_path_line(plugin_dir) not in block and "nuke.pluginAddPath(%r)" % plugin_dir not in block:
        log("%s adds another plug-in folder: left as it is" % init_py)
        return False
    header = text[span[0]:text.find("\n", span[0])]
    before, after = text[:span[0]], text[span[1]:]
    newline = "\r\n" if header.endswith("\r") else "\n"
    if FLAG_NEWLINE in header and before.endswith(newline) and not after:
        before = before[:-len(newline)]
    new = before + after
    if FLAG_CREATED in header and not new.strip():
        os.remove(init_py)
    else:
        write_if_changed(init_py, _encode(new))
    return True


# ----------------------------------------------------------------------------- install / uninstall
def read_config(plugin_dir):
    path = os.path.join(plugin_dir, CONFIG_NAME)
    try:
        with open(path, "r") as fh:
            data = json.load(fh)
    except (IOError, OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def install(args):
    nuke_dir = os.path.abspath(os.path.expanduser(args.nuke_dir))
    plugin_dir = os.path.abspath(os.path.expanduser(args.plugin_dir or os.path.join(nuke_dir, "nuke_colorize")))
    if not args.studio:  # before anything is written
        check_init_py(os.path.join(nuke_dir, "init.py"), plugin_dir)
        check_writable(nuke_dir, "the Nuke folder, for init.py",
                       "give --nuke-dir a folder you can write, or --studio to leave init.py alone")
    check_writable(plugin_dir, "the plug-in folder", "give --plugin-dir a folder you can write")
    previous = read_config(plugin_dir)
    python, created = ensure_engine(args, plugin_dir, previous)
    if previous.get("engine_python") != python:
        _remove_engine(previous)  # ours and no longer used: the uninstall would not find it again
    files = plugin_files()
    # an ASCII Python literal: the folder's name may hold any character (or byte, on Linux)
    files["init.py"] = files["init.py"].replace(b'r"@PLUGIN_DIR@"', ascii(plugin_dir).encode("ascii"))
    changed = [rel for rel, data in sorted(files.items()) if write_if_changed(os.path.join(plugin_dir, rel), data)]
    stale = sorted(set(previous.get("files", [])) - set(files) - {CONFIG_NAME})
    for rel in stale:
        _remove_file(plugin_dir, rel)
    config = {
        "version": package_version(),
        "engine_python": python,
        "engine_created": bool(created),
        "plugin_dir": plugin_dir,
        "nuke_dir": nuke_dir,
        "studio": bool(args.studio),
        "files": sorted(files) + [CONFIG_NAME],
        "digest": hashlib.sha1(b"".join(files[k] for k in sorted(files))).hexdigest(),
    }
    if write_if_changed(os.path.join(plugin_dir, CONFIG_NAME),
                        (json.dumps(config, indent=2, sort_keys=True) + "\n").encode("utf-8")):
        changed.append(CONFIG_NAME)
    if args.studio:
        log("plug-in folder ready: %s (studio install: %s left untouched)" % (plugin_dir, os.path.join(nuke_dir, "init.py")))
        print("Add the plug-in folder to NUKE_PATH in the studio environment:")
        print('  export NUKE_PATH="%s${NUKE_PATH:+:$NUKE_PATH}"' % plugin_dir)
        print("  set NUKE_PATH=%s;%%NUKE_PATH%%   (Windows)" % plugin_dir)
    else:
        if add_block(os.path.join(nuke_dir, "init.py"), plugin_dir):
            changed.append(os.path.join(nuke_dir, "init.py"))
        log("installed into %s (%s)" % (plugin_dir, "%d file(s) changed" % len(changed) if changed
                                        else "already up to date"))
    return 0


def _remove_file(plugin_dir, rel):
    path = os.path.join(plugin_dir, rel)
    try:
        os.remove(path)
    except OSError:
        return
    folder = os.path.dirname(path)
    while folder.startswith(plugin_dir) and folder != plugin_dir:
        try:
            os.rmdir(folder)
        except OSError:
            break
        folder = os.path.dirname(folder)


def _remove_engine(config):
    """Delete the engine venv ``config`` records as created by the installer."""
    engine_python = config.get("engine_python", "")
    if config.get("engine_created") and engine_python:
        engine_dir = os.path.dirname(os.path.dirname(engine_python))
        if os.path.isfile(os.path.join(engine_dir, "pyvenv.cfg")):
            shutil.rmtree(engine_dir)
            log("removed the engine environment %s" % engine_dir)


def uninstall(args):
    nuke_dir = os.path.abspath(os.path.expanduser(args.nuke_dir))
    plugin_dir = os.path.abspath(os.path.expanduser(args.plugin_dir or os.path.join(nuke_dir, "nuke_colorize")))
    config = read_config(plugin_dir)
    removed_block = remove_block(os.path.join(nuke_dir, "init.py"), plugin_dir)
    if not config and not removed_block:
        log("nothing to remove in %s" % plugin_dir)
        return 0
    for rel in config.get("files", []):
        _remove_file(plugin_dir, rel)
    for folder, dirs, names in os.walk(plugin_dir, topdown=False):
        if os.path.basename(folder) == "__pycache__":
            shutil.rmtree(folder, ignore_errors=True)
    _remove_engine(config)
    for folder, dirs, names in os.walk(plugin_dir, topdown=False):
        try:
            os.rmdir(folder)
        except OSError:
            pass
    left = os.path.isdir(plugin_dir)
    log("uninstalled from %s%s" % (plugin_dir, " (files not written by the installer were left)" if left else ""))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description="Install the nuke-colorize Nuke plug-in (or remove it).")
    parser.add_argument("--nuke-dir", default="~/.nuke", help="the user's Nuke folder (default ~/.nuke)")
    parser.add_argument("--plugin-dir", help="where the plug-in folder goes (default <nuke dir>/nuke_colorize)")
    parser.add_argument("--engine-python", help="reuse this Python, where nuke-colorize is already installed")
    parser.add_argument("--engine-dir", help="where to create the engine venv (default <plug-in folder>/engine)")
    parser.add_argument("--studio", action="store_true",
                        help="do not touch init.py; print the NUKE_PATH line for a studio-wide install")
    parser.add_argument("--uninstall", action="store_true", help="remove everything this installer added")
    args = parser.parse_args(argv)
    try:
        return uninstall(args) if args.uninstall else install(args)
    except (InstallError, subprocess.CalledProcessError, OSError) as err:
        print("nuke-colorize install: error: %s" % err, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

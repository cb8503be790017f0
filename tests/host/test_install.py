"""install/install.py wires the plug-in into a temporary ~/.nuke idempotently and reversibly,
and the installed plug-in starts in (fake) Nuke from its own copy, under Python 3.7 too."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "install" / "install.py"
FAKE_NUKE = REPO / "tests" / "fake_nuke"
ENGINE = sys.executable  # the project's venv python, where nuke-colorize is installed
PY37 = Path("/root/.pyenv/versions/3.7.16/bin/python3.7")
USER_INIT = b"import nuke\nnuke.pluginAddPath('/studio/tools')"  # no final newline on purpose


def run_install(*args, expect=0):
    proc = subprocess.run([sys.executable, str(INSTALL)] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=120)
    assert proc.returncode == expect, proc.stderr.decode("utf-8", "replace")
    return proc.stdout.decode("utf-8", "surrogateescape")  # paths may be any bytes


def tree(folder):
    """{relative path: sha1} of every file under folder."""
    out = {}
    for base, _, names in os.walk(folder):
        for n in names:
            p = os.path.join(base, n)
            out[os.path.relpath(p, folder)] = hashlib.sha1(Path(p).read_bytes()).hexdigest()
    return out


STARTUP = r"""
import json, sys
sys.path.insert(0, {fake!r})
import nuke
nuke._reset(gui=True)
nuke._startup({nuke_dir!r}, gui=True)
import nuke_colorize
from nuke_colorize.host.nuke import node as nc
item = nuke.toolbar("Nodes").findItem("Colorize/Colorize")
item.invoke()  # the toolbar entry pastes the node
created = nc.all_shots()
print(json.dumps({{
    "package": nuke_colorize.__file__,
    "toolbar": [i.name() for i in nuke.toolbar("Nodes").findItem("Colorize").items()],
    "menu": [i.name() for i in nuke.menu("Nuke").findItem("Colorize").items()],
    "hooks": [c[0].__module__ for c in nuke._state.callbacks.get("beforeFrameRenders", {{}}).get("Write", [])],
    "heavy": [m for m in ("torch", "numpy", "cv2", "OpenImageIO", "nuke_colorize.engine") if m in sys.modules],
    "nodes": [(n.name(), n["status"].value()) for n in created],
    "config": __import__("os").environ.get("NUKE_COLORIZE_CONFIG"),
    "engine": __import__("nuke_colorize.host.bridge", fromlist=["x"]).engine_python(),
}}))
"""


def start_nuke(python, nuke_dir, env_extra=None):
    code = STARTUP.format(fake=str(FAKE_NUKE), nuke_dir=str(nuke_dir))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "NUKE_"))}
    env.update(env_extra or {})
    proc = subprocess.run([str(python), "-I", "-S", "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          cwd=str(nuke_dir), env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])


def test_install_is_idempotent_reversible_and_starts_in_nuke(tmp_path):
    nuke_dir = tmp_path / ".nuke"
    nuke_dir.mkdir()
    (nuke_dir / "init.py").write_bytes(USER_INIT)
    run_install("--nuke-dir", str(nuke_dir), "--engine-python", ENGINE)
    plugin = nuke_dir / "nuke_colorize"
    init_text = (nuke_dir / "init.py").read_text()
    assert init_text.startswith(USER_INIT.decode() + "\n# >>> nuke-colorize >>>")
    assert "nuke.pluginAddPath(%r)" % str(plugin) in init_text
    config = json.loads((plugin / "nuke_colorize.json").read_text())
    assert config["engine_python"] == ENGINE and config["engine_created"] is False
    for rel in ("init.py", "menu.py", "gizmos/Colorize.nk", "python/nuke_colorize/host/bridge.py",
                "python/nuke_colorize/host/nuke/node.py", "python/nuke_colorize/ui/panel.py"):
        assert (plugin / rel).is_file(), rel
    assert not (plugin / "python" / "nuke_colorize" / "engine.py").exists()  # host side only
    # python/ is on sys.path in every Nuke session: nothing there may shadow a
    # studio's packages (qtpy's packaging from the engine's Python broke Python 3.7 importers)
    assert os.listdir(plugin / "python") == ["nuke_colorize"]
    snapshot = (tree(plugin), (nuke_dir / "init.py").read_bytes())

    out = run_install("--nuke-dir", str(nuke_dir), "--engine-python", ENGINE)
    assert "already up to date" in out
    assert (tree(plugin), (nuke_dir / "init.py").read_bytes()) == snapshot

    for python in [sys.executable] + ([PY37] if PY37.exists() else []):
        res = start_nuke(python, nuke_dir)
        assert res["package"].startswith(str(plugin)), res
        assert res["toolbar"] == ["Colorize", "Reference panel"]
        assert res["menu"] == ["Create Colorize node", "Reference panel..."]
        assert res["hooks"] == ["nuke_colorize.host.nuke.render"]
        assert res["heavy"] == []
        assert res["nodes"] == [["Colorize1", "not ready: connect a plate to the node's plate input"]]
        assert res["config"] == str(plugin / "nuke_colorize.json") and res["engine"] == ENGINE

    run_install("--nuke-dir", str(nuke_dir), "--uninstall")
    assert (nuke_dir / "init.py").read_bytes() == USER_INIT
    assert not plugin.exists()
    assert os.path.isfile(ENGINE)  # an engine we did not create is never removed
    out = run_install("--nuke-dir", str(nuke_dir), "--uninstall")
    assert "nothing to remove" in out


STUDIO_STARTUP = r"""
import json, sys
sys.path.insert(0, {fake!r})
sys.path.insert(1, {studio!r})   # the studio's own packages, on Nuke's path before any plug-in
import nuke
nuke._reset(gui=False)
nuke._startup({nuke_dir!r}, gui=False)   # a farm render: init.py only
import qtpy, packaging, nuke_colorize
print(json.dumps([m.__file__ for m in (qtpy, packaging, nuke_colorize)]))
"""


def test_the_plugin_does_not_replace_the_studios_qtpy_and_packaging(tmp_path):
    """The plug-in's python/ folder once held copies of qtpy and packaging and its init.py put
    that folder first on sys.path at every Nuke start, farm renders included, so every other
    tool in that Nuke imported the plug-in's qtpy and packaging instead of the studio's own.
    Now the folder holds the host package alone and is appended: the studio's modules win."""
    nuke_dir = tmp_path / ".nuke"
    run_install("--nuke-dir", str(nuke_dir), "--engine-python", ENGINE)
    studio = tmp_path / "studio" / "python"
    for name in ("qtpy", "packaging"):
        (studio / name).mkdir(parents=True)
        (studio / name / "__init__.py").write_text("STUDIO = True\n")
    code = STUDIO_STARTUP.format(fake=str(FAKE_NUKE), studio=str(studio), nuke_dir=str(nuke_dir))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "NUKE_"))}
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True,
                          cwd=str(nuke_dir), env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    qtpy_file, packaging_file, package_file = json.loads(proc.stdout.strip().splitlines()[-1])
    assert qtpy_file.startswith(str(studio)) and packaging_file.startswith(str(studio))
    assert package_file.startswith(str(nuke_dir / "nuke_colorize" / "python"))   # its own package still


def test_install_creates_and_removes_init_py(tmp_path):
    nuke_dir = tmp_path / "nk"
    run_install("--nuke-dir", str(nuke_dir), "--engine-python", ENGINE)
    assert (nuke_dir / "init.py").read_text().startswith("# >>> nuke-colorize >>>")
    run_install("--nuke-dir", str(nuke_dir), "--uninstall")
    assert not (nuke_dir / "init.py").exists()
    assert os.listdir(nuke_dir) == []


def test_studio_install_prints_nuke_path_and_leaves_init_py(tmp_path):
    nuke_dir = tmp_path / ".nuke"
    nuke_dir.mkdir()
    studio = tmp_path / "studio" / "nuke_colorize"
    out = run_install("--nuke-dir", str(nuke_dir), "--plugin-dir", str(studio), "--engine-python", ENGINE,
                      "--studio")
    assert not (nuke_dir / "init.py").exists()
    assert 'export NUKE_PATH="%s${NUKE_PATH:+:$NUKE_PATH}"' % studio in out
    res = start_nuke(sys.executable, nuke_dir, {"NUKE_PATH": str(studio)})
    assert res["package"].startswith(str(studio)) and res["hooks"] == ["nuke_colorize.host.nuke.render"]
    run_install("--nuke-dir", str(nuke_dir), "--plugin-dir", str(studio), "--uninstall")
    assert not studio.exists()


def test_engine_without_the_package_is_refused(tmp_path):
    if not PY37.exists():
        pytest.skip("needs a Python without nuke-colorize")
    proc = subprocess.run([sys.executable, str(INSTALL), "--nuke-dir", str(tmp_path), "--engine-python", str(PY37)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert proc.returncode == 1
    assert "cannot import nuke_colorize" in proc.stderr.decode()
    assert not (tmp_path / "init.py").exists()


@pytest.mark.parametrize("before", [
    b"# -*- coding: latin-1 -*-\n# caf\xe9\nimport nuke",          # not UTF-8, no final newline
    b"\xef\xbb\xbfimport nuke\r\nnuke.pluginAddPath('/studio')",     # BOM, CRLF, no final newline
    b"import nuke\r\nprint('x')\r\n",                                # CRLF
    b"",                                                             # empty file
], ids=["latin1", "bom-crlf-no-newline", "crlf", "empty"])
def test_install_and_uninstall_restore_init_py_byte_for_byte(tmp_path, before):
    nuke_dir = tmp_path / "my nuke dir"
    nuke_dir.mkdir()
    (nuke_dir / "init.py").write_bytes(before)
    run_install("--nuke-dir", str(nuke_dir), "--engine-python", ENGINE)
    installed = (nuke_dir / "init.py").read_bytes()
    assert installed.startswith(before) and b"pluginAddPath" in installed[len(before):]
    run_install("--nuke-dir", str(nuke_dir), "--engine-python", ENGINE)
    assert (nuke_dir / "init.py").read_bytes() == installed
    run_install("--nuke-dir", str(nuke_dir), "--uninstall")
    assert (nuke_dir / "init.py").read_bytes() == before
    assert not (nuke_dir / "nuke_colorize").exists()


@pytest.mark.parametrize("mode", [0o600, 0o750])
def test_install_and_uninstall_keep_init_py_permissions(tmp_path, mode):
    """The block was written through a new temporary file (default permissions, 0644 under the
    usual umask) replacing init.py: a private 0600 init.py became readable by everyone, and
    stayed so after the uninstall restored its bytes."""
    nuke_dir = tmp_path / ".nuke"
    nuke_dir.mkdir()
    (nuke_dir / "init.py").write_bytes(USER_INIT)
    os.chmod(nuke_dir / "init.py", mode)
    run_install("--nuke-dir", str(nuke_dir), "--engine-python", ENGINE)
    assert b"pluginAddPath" in (nuke_dir / "init.py").read_bytes()[len(USER_INIT):]
    assert (nuke_dir / "init.py").stat().st_mode & 0o7777 == mode
    run_install("--nuke-dir", str(nuke_dir), "--uninstall")
    assert (nuke_dir / "init.py").read_bytes() == USER_INIT
    assert (nuke_dir / "init.py").stat().st_mode & 0o7777 == mode


def test_a_nuke_folder_that_cannot_be_written_stops_the_install_before_anything_is_written(
        tmp_path, monkeypatch, capsys):
    """A read-only ~/.nuke (read-only mount, another user's folder) with the plug-in folder
    elsewhere: the engine and the whole plug-in folder were written, then the install stopped
    on "[Errno 30] Read-only file system: '.../.nuke/init.py.tmp-install'". Now it stops first,
    naming the folder and the ways out. (The folder is made unwritable through os.access, the
    check the install makes: the tests run as root, whom permission bits do not stop.)"""
    import importlib.util
    spec = importlib.util.spec_from_file_location("nc_install_under_test", str(INSTALL))
    install = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(install)
    nuke_dir, plugin_dir = tmp_path / "ro" / ".nuke", tmp_path / "rw" / "nuke_colorize"
    nuke_dir.mkdir(parents=True)
    (nuke_dir / "init.py").write_bytes(USER_INIT)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if str(p) == str(nuke_dir) else real_access(p, m))
    code = install.main(["--nuke-dir", str(nuke_dir), "--plugin-dir", str(plugin_dir), "--engine-python", ENGINE])
    err = capsys.readouterr().err
    assert code == 1
    assert "cannot write into %s" % nuke_dir in err and "nothing installed" in err and "--studio" in err
    assert not plugin_dir.exists() and (nuke_dir / "init.py").read_bytes() == USER_INIT
    # --studio leaves init.py alone: the plug-in folder is all it writes
    assert install.main(["--nuke-dir", str(nuke_dir), "--plugin-dir", str(plugin_dir), "--engine-python",
                         ENGINE, "--studio"]) == 0
    assert (plugin_dir / "init.py").is_file() and (nuke_dir / "init.py").read_bytes() == USER_INIT


def test_an_init_py_that_is_a_symbolic_link_is_left_alone(tmp_path):
    """~/.nuke/init.py linked to a studio's shared file (or a dotfiles checkout): the install
    replaced the link by a copy with the block (os.replace of a temporary file), and the uninstall
    left that copy, so the user no longer saw the studio's file. Now nothing is written, the
    refusal says why and what to do instead; --studio still installs."""
    studio = tmp_path / "studio"
    studio.mkdir()
    (studio / "init.py").write_bytes(USER_INIT)
    nuke_dir = tmp_path / ".nuke"
    nuke_dir.mkdir()
    (nuke_dir / "init.py").symlink_to(studio / "init.py")
    proc = subprocess.run([sys.executable, str(INSTALL), "--nuke-dir", str(nuke_dir), "--engine-python", ENGINE],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "is a symbolic link to %s" % (studio / "init.py") in proc.stderr and "--studio" in proc.stderr
    assert (nuke_dir / "init.py").is_symlink() and (studio / "init.py").read_bytes() == USER_INIT
    assert sorted(os.listdir(nuke_dir)) == ["init.py"]   # no plug-in folder either
    out = run_install("--nuke-dir", str(nuke_dir), "--engine-python", ENGINE, "--studio")
    assert "NUKE_PATH" in out and (nuke_dir / "init.py").is_symlink()
    run_install("--nuke-dir", str(nuke_dir), "--uninstall")
    assert (nuke_dir / "init.py").is_symlink() and (studio / "init.py").read_bytes() == USER_INIT


def test_uninstall_after_an_editor_turned_init_py_into_crlf(tmp_path):
    """Installed into an LF file without a final newline; then a Windows editor saved the whole
    file with CRLF newlines: the uninstall leaves the user's lines, in the editor's newlines."""
    nuke_dir = tmp_path / ".nuke"
    nuke_dir.mkdir()
    (nuke_dir / "init.py").write_bytes(b"import nuke\nx = 1")
    run_install("--nuke-dir", str(nuke_dir), "--engine-python", ENGINE)
    (nuke_dir / "init.py").write_bytes((nuke_dir / "init.py").read_bytes().replace(b"\n", b"\r\n"))
    run_install("--nuke-dir", str(nuke_dir), "--uninstall")
    assert (nuke_dir / "init.py").read_bytes() == b"import nuke\r\nx = 1"


def test_block_path_is_ascii_python_in_any_encoding(tmp_path):
    nuke_dir = tmp_path / "caf\u00e9" / ".nuke"
    run_install("--nuke-dir", str(nuke_dir), "--engine-python", ENGINE)
    data = (nuke_dir / "init.py").read_bytes()
    data.decode("ascii")
    namespace = {}
    line = [ln for ln in data.decode("ascii").splitlines() if "pluginAddPath" in ln][0]
    exec(line.replace("nuke.pluginAddPath", "added = str"), namespace)
    assert namespace["added"] == str(nuke_dir / "nuke_colorize")
    run_install("--nuke-dir", str(nuke_dir), "--uninstall")
    assert not (nuke_dir / "init.py").exists()


def test_studio_uninstall_leaves_a_personal_install_alone(tmp_path):
    """A personal install in ~/.nuke and a studio one: removing the studio plug-in must not
    take the personal plug-in's block out of ~/.nuke/init.py (that disabled it)."""
    nuke_dir = tmp_path / ".nuke"
    nuke_dir.mkdir()
    (nuke_dir / "init.py").write_bytes(USER_INIT)
    run_install("--nuke-dir", str(nuke_dir), "--engine-python", ENGINE)
    personal = (nuke_dir / "init.py").read_bytes()
    studio = tmp_path / "studio" / "nuke_colorize"
    run_install("--nuke-dir", str(nuke_dir), "--plugin-dir", str(studio), "--engine-python", ENGINE, "--studio")
    out = run_install("--nuke-dir", str(nuke_dir), "--plugin-dir", str(studio), "--uninstall")
    assert "another plug-in folder" in out
    assert not studio.exists()
    assert (nuke_dir / "init.py").read_bytes() == personal
    assert (nuke_dir / "nuke_colorize" / "init.py").is_file()
    run_install("--nuke-dir", str(nuke_dir), "--uninstall")
    assert (nuke_dir / "init.py").read_bytes() == USER_INIT


@pytest.mark.skipif(sys.platform != "linux", reason="file names of arbitrary bytes: Linux")
def test_install_into_a_folder_whose_name_is_not_utf8(tmp_path):
    """A home folder named in latin-1 (bytes that are not UTF-8): the installer stopped with a
    UnicodeEncodeError after writing part of the plug-in."""
    nuke_dir = os.fsdecode(os.path.join(os.fsencode(str(tmp_path)), b"caf\xe9", b".nuke"))
    os.makedirs(nuke_dir)
    with open(os.path.join(nuke_dir, "init.py"), "wb") as fh:
        fh.write(USER_INIT)
    run_install("--nuke-dir", nuke_dir, "--engine-python", ENGINE)
    plugin_init = os.path.join(nuke_dir, "nuke_colorize", "init.py")
    with open(plugin_init, "rb") as fh:
        compile(fh.read(), plugin_init, "exec")
    res = start_nuke(sys.executable, nuke_dir)
    assert res["package"].startswith(os.path.join(nuke_dir, "nuke_colorize")), res
    assert res["hooks"] == ["nuke_colorize.host.nuke.render"]
    run_install("--nuke-dir", nuke_dir, "--uninstall")
    with open(os.path.join(nuke_dir, "init.py"), "rb") as fh:
        assert fh.read() == USER_INIT
    assert os.listdir(nuke_dir) == ["init.py"]


@pytest.mark.skipif(os.name == "nt", reason="a shell script stands for the venv's python")
def test_switching_to_another_engine_removes_the_engine_we_created(tmp_path):
    """Installed with the engine venv in the plug-in folder, then re-installed with
    --engine-python: the venv we made was forgotten (engine_created false), and the uninstall
    left it behind (gigabytes) as 'files not written by the installer'."""
    nuke_dir = tmp_path / ".nuke"
    engine = nuke_dir / "nuke_colorize" / "engine"
    (engine / "bin").mkdir(parents=True)
    (engine / "pyvenv.cfg").write_text("home = %s\n" % os.path.dirname(ENGINE))
    wrapper = engine / "bin" / "python"  # stands for a venv the installer made (no pip install)
    wrapper.write_text('#!/bin/sh\nexec %s "$@"\n' % ENGINE)
    wrapper.chmod(0o755)
    run_install("--nuke-dir", str(nuke_dir))
    config = json.loads((nuke_dir / "nuke_colorize" / "nuke_colorize.json").read_text())
    assert config["engine_created"] is True and config["engine_python"] == str(engine / "bin" / "python")
    out = run_install("--nuke-dir", str(nuke_dir), "--engine-python", ENGINE)
    assert not engine.exists() and "removed the engine environment" in out
    run_install("--nuke-dir", str(nuke_dir), "--uninstall")
    assert not (nuke_dir / "nuke_colorize").exists()
    assert os.path.isfile(ENGINE)


@pytest.mark.skipif(os.name == "nt", reason="a shell script stands for the venv's python")
def test_engine_packages_are_installed_without_the_shells_pythonpath(tmp_path):
    """pip counts packages on PYTHONPATH as installed: run from a shell with a studio
    PYTHONPATH, the engine venv got nuke-colorize without numpy, torch... which Nuke's bridge
    (no PYTHONPATH) then cannot import. The installer's pip runs without PYTHONPATH/PYTHONHOME."""
    nuke_dir = tmp_path / ".nuke"
    engine = nuke_dir / "nuke_colorize" / "engine"
    (engine / "bin").mkdir(parents=True)
    (engine / "pyvenv.cfg").write_text("home = %s\n" % os.path.dirname(ENGINE))
    seen = tmp_path / "pip_env.txt"
    wrapper = engine / "bin" / "python"  # an engine without nuke-colorize until "pip" has run
    wrapper.write_text('#!/bin/sh\n'
                       'if [ "$1 $2" = "-m pip" ]; then echo "PYTHONPATH=$PYTHONPATH" > %s; exit 0; fi\n'
                       '[ -f %s ] || exit 1\n'
                       'exec %s "$@"\n' % (seen, seen, ENGINE))
    wrapper.chmod(0o755)
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "studio" / "site-packages"))
    proc = subprocess.run([sys.executable, str(INSTALL), "--nuke-dir", str(nuke_dir)], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    assert seen.read_text() == "PYTHONPATH=\n"
    run_install("--nuke-dir", str(nuke_dir), "--uninstall")
    assert not (nuke_dir / "nuke_colorize").exists()


def test_a_qtpy_this_python_cannot_import_falls_back_to_pyside(tmp_path):
    """The plug-in's qtpy imports ``packaging``; a packaging from a newer Python (26.x, as the
    engine's venv has) fails in Nuke 13's Python 3.7 with a SyntaxError and in Nuke 14's 3.9
    with a TypeError, which ``except ImportError`` let through: the reference panel did not
    open. Any failure to import qtpy now falls back to the binding Nuke ships."""
    broken = tmp_path / "site" / "qtpy"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise TypeError(\"unsupported operand type(s) for |: 'type' and 'type'\")\n")
    code = ("import sys; sys.path.insert(0, %r); sys.path.insert(0, %r)\n"
            "from nuke_colorize.ui import qt; print(qt.API, qt.QtWidgets.__name__)" % (str(REPO), str(tmp_path / "site")))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["PySide6", "PySide6.QtWidgets"]
    if PY37.exists():   # the case itself: the engine's packaging does not import in Python 3.7
        import packaging
        probe = subprocess.run([str(PY37), "-I", "-S", "-c", "import sys; sys.path.insert(0, %r); import packaging.version"
                                % os.path.dirname(os.path.dirname(packaging.__file__))],
                               capture_output=True, text=True, timeout=60)
        if probe.returncode:
            assert "SyntaxError" in probe.stderr or "TypeError" in probe.stderr, probe.stderr


def test_inside_nuke_the_panel_uses_nukes_own_pyside_not_qtpy(tmp_path):
    """qtpy prefers PyQt5 when several bindings are found (qtpy README): inside Nuke a studio's
    qtpy + PyQt5 would put a second Qt binding beside Nuke's PySide. Inside Nuke (13-15:
    PySide2, 16+: PySide6, the other as fallback) qtpy is not asked."""
    site = tmp_path / "site"
    (site / "qtpy").mkdir(parents=True)
    (site / "qtpy" / "__init__.py").write_text("import types\nAPI_NAME = 'PyQt5'\nQtCore = types.SimpleNamespace(Signal=object)\n"
                                            "QtGui = QtWidgets = types.SimpleNamespace(__name__='PyQt5.QtWidgets')\n")
    code = ("import sys; sys.path.insert(0, %r); sys.path.insert(0, %r)\n"
            "import types; nuke = types.ModuleType('nuke'); nuke.NUKE_VERSION_MAJOR = %%d; sys.modules['nuke'] = nuke\n"
            "from nuke_colorize.ui import qt; print(qt.API, qt.QtWidgets.__name__)" % (str(REPO), str(site)))
    for major in (15, 16):   # this venv has PySide6 only: Nuke 15's order falls back to it
        proc = subprocess.run([sys.executable, "-c", code % major], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == ["PySide6", "PySide6.QtWidgets"], (major, proc.stdout)
    outside = subprocess.run([sys.executable, "-c", code.replace("sys.modules['nuke'] = nuke", "pass") % 15],
                             capture_output=True, text=True, timeout=120)
    assert outside.stdout.split()[0] == "PyQt5", outside.stderr   # outside Nuke qtpy decides


@pytest.mark.skipif(not PY37.exists(), reason="no Python 3.7 here")
def test_an_engine_is_not_created_with_a_python_older_than_the_package_needs(tmp_path):
    """install.py runs on Python 3.7 (Nuke 13's), but the engine venv it creates is made with
    that same Python, where the package (requires-python >= 3.9) cannot be installed: refused
    before the venv or anything else is made, naming both versions and the ways out."""
    nuke_dir = tmp_path / ".nuke"
    proc = subprocess.run([str(PY37), str(INSTALL), "--nuke-dir", str(nuke_dir)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=120)
    err = proc.stderr.decode()
    assert proc.returncode != 0 and "Traceback" not in err, err
    assert "needs Python 3.9 or newer and this is Python 3.7" in err and "--engine-python" in err
    assert not (nuke_dir / "nuke_colorize" / "engine").exists()
    assert not (nuke_dir / "init.py").exists()

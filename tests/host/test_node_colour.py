"""Colour spaces the Colorize node hands to the engine: the Reads' own, and under OCIO colour
management the script's working space for precomps and the output."""
from __future__ import annotations

import os

import pytest

from hostkit import make_plate, make_ref
from hostkit import fake_nuke  # noqa: F401  (pytest fixture)
from nuke_colorize.host.frames import frame_path
from nuke_colorize.host.nuke import node as nc
from nuke_colorize.host.nuke import sources


@pytest.fixture
def comp(fake_nuke, tmp_path):
    """A plate behind a Grade (a precomp), a Colorize node, a file still and a keyframe taken
    from a tree on the reference input (another precomp)."""
    nuke = fake_nuke
    read = nuke.nodes.Read(file=make_plate(tmp_path / "plate", 1, 5), first=1, last=5)
    grade = nuke.nodes.Grade()
    grade.setInput(0, read)
    grade.setSelected(True)
    node = nc.create()
    node.setInput(0, grade)
    painted = nuke.nodes.Read(file=make_plate(tmp_path / "painted", 1, 5), first=1, last=5)
    pgrade = nuke.nodes.Grade()
    pgrade.setInput(0, painted)
    node.setInput(1, pgrade)
    still = make_ref(tmp_path / "refs" / "still.png", (30, 160, 90))
    nuke._user_set(node["references"], "2 input\nstill %s" % still)
    return node, painted, still


def _ocio(nuke, working_space):
    nuke.root()["colorManagement"].setValue("OCIO")
    nuke.root()["workingSpaceLUT"].setValue(working_space)


def test_nuke_colour_management_exchanges_linear_rec709(comp, fake_nuke):
    node, painted, still = comp
    shot = nc.prepare(node).shot
    assert shot["colorspace"] == "linear" and "out_colorspace" not in shot
    assert all("colorspace" not in r for r in shot["references"])
    assert "OCIO" not in node["status"].value()


def test_ocio_working_space_goes_to_precomps_and_output_when_the_engine_can_convert(comp, fake_nuke,
                                                                                 monkeypatch, tmp_path):
    node, painted, still = comp
    monkeypatch.setenv("OCIO", str(tmp_path / "config.ocio"))
    _ocio(fake_nuke, "ACES - ACEScg")
    shot = nc.prepare(node).shot
    assert shot["colorspace"] == "ACES - ACEScg"           # the plate precomp holds working-space values
    assert shot["out_colorspace"] == "ACES - ACEScg"       # ... and so must the output the raw Read shows
    key, st = shot["references"]
    assert key["frame"] == 2 and key["colorspace"] == "ACES - ACEScg"
    assert st == {"image": still}                           # a file keeps auto (sRGB PNG)


def test_ocio_without_config_warns_and_keeps_linear(comp, fake_nuke, monkeypatch):
    node, painted, still = comp
    monkeypatch.delenv("OCIO", raising=False)
    _ocio(fake_nuke, "ACES - ACEScg")
    prep = nc.prepare(node)
    assert prep.shot["colorspace"] == "linear" and "out_colorspace" not in prep.shot
    assert any("$OCIO" in w for w in prep.warnings)


def test_a_reference_read_is_read_in_its_own_colourspace(comp, fake_nuke, tmp_path):
    node, painted, still = comp
    node.setInput(1, painted)
    painted["colorspace"].setValue("rec709")
    shot = nc.prepare(node).shot
    assert shot["references"][0] == {"frame": 2, "image": frame_path(painted["file"].value(), 2),
                                      "colorspace": "rec709"}
    painted["colorspace"].setValue("default")
    # Nuke reads "default" back with the name it resolves to ("default (linear)" for EXR
    # files, as pipeline checks compare it): the engine gets that name
    assert painted["colorspace"].value() == "default (linear)"
    assert nc.prepare(node).shot["references"][0]["colorspace"] == "linear"
    png = fake_nuke.nodes.Read(file=make_ref(tmp_path / "refs" / "key.png"), first=2, last=2)
    assert png["colorspace"].value() == "default (sRGB)"
    node.setInput(1, png)
    assert nc.prepare(node).shot["references"][0]["colorspace"] == "srgb"


class _Knob(object):
    def __init__(self, v):
        self.v = v

    def value(self):
        return self.v


@pytest.mark.parametrize("value,raw,expected", [
    ("default", False, "auto"), ("default (sRGB)", False, "srgb"), ("default (Cineon)", False, "cineon"),
    ("default (linear)", False, "linear"), ("default (ACES - ACEScg)", False, "auto"),
    ("rec709", False, "rec709"), ("ACES - ACEScg", False, "ACES - ACEScg"), ("sRGB", True, "auto")])
def test_read_colourspace_names(value, raw, expected, fake_nuke, monkeypatch):
    monkeypatch.delenv("OCIO", raising=False)
    read = {"colorspace": _Knob(value), "raw": _Knob(raw)}
    assert sources.read_colorspace(read) == expected


def test_a_default_ocio_name_is_kept_when_the_engine_shares_the_config(fake_nuke, monkeypatch, tmp_path):
    read = {"colorspace": _Knob("default (ACES - ACEScg)"), "raw": _Knob(False)}
    monkeypatch.setenv("OCIO", str(tmp_path / "config.ocio"))
    assert sources.read_colorspace(read) == "auto"             # Nuke colour management
    _ocio(fake_nuke, "ACES - ACEScg")
    assert sources.read_colorspace(read) == "ACES - ACEScg"


def _config(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("ocio_profile_version: 2\n")   # the node only locates it; the engine loads it
    return str(path)


def test_ocio_custom_config_path_reaches_the_shot(comp, fake_nuke, monkeypatch, tmp_path):
    node, painted, still = comp
    monkeypatch.delenv("OCIO", raising=False)
    config = _config(tmp_path / "show" / "config.ocio")
    monkeypatch.setenv("SHOW_OCIO_DIR", str(tmp_path / "show"))
    _ocio(fake_nuke, "ACES - ACEScg")
    fake_nuke.root()["OCIO_config"].setValue("custom")
    fake_nuke.root()["customOCIOConfigPath"].setValue("[getenv SHOW_OCIO_DIR]/config.ocio")
    prep = nc.prepare(node)
    assert prep.shot["ocio_config"] == config
    assert prep.shot["colorspace"] == "ACES - ACEScg" and prep.shot["out_colorspace"] == "ACES - ACEScg"
    assert not any("OCIO" in w for w in prep.warnings)
    # an edited config is another version of the shot (its conversions may have changed)
    folder = os.path.dirname(prep.shot_path)
    with open(config, "a") as fh:
        fh.write("# graded differently\n")
    os.utime(config, ns=(1, 1))
    assert os.path.dirname(nc.prepare(node).shot_path) != folder


def test_a_nuke_builtin_config_is_found_in_the_installation(comp, fake_nuke, monkeypatch, tmp_path):
    node, painted, still = comp
    monkeypatch.delenv("OCIO", raising=False)
    install = tmp_path / "Nuke15.1v1"
    config = _config(install / "plugins" / "OCIOConfigs" / "configs" / "aces_1.2" / "config.ocio")
    monkeypatch.setitem(fake_nuke.env, "ExecutablePath", str(install / "Nuke15.1"))
    _ocio(fake_nuke, "ACES - ACEScg")
    fake_nuke.root()["OCIO_config"].setValue("aces_1.2")
    prep = nc.prepare(node)
    assert prep.shot["ocio_config"] == config
    # a farm machine with Nuke installed elsewhere (same config, another path and mtime)
    # finds the same version of the shot, so it reads the cache the artist built
    farm = tmp_path / "opt" / "Nuke15.1v1"
    farm_config = _config(farm / "plugins" / "OCIOConfigs" / "configs" / "aces_1.2" / "config.ocio")
    os.utime(farm_config, ns=(10 ** 9, 10 ** 9))
    monkeypatch.setitem(fake_nuke.env, "ExecutablePath", str(farm / "Nuke15.1"))
    farm_prep = nc.prepare(node)
    assert farm_prep.shot["ocio_config"] == farm_config
    assert os.path.dirname(farm_prep.shot_path) == os.path.dirname(prep.shot_path)
    monkeypatch.setitem(fake_nuke.env, "ExecutablePath", str(install / "Nuke15.1"))
    # Nuke's ACES CG config without a file here: the OCIO built-in config it is made from
    fake_nuke.root()["OCIO_config"].setValue("fn-nuke_cg-config-v1.0.0_aces-v1.3_ocio-v2.1")
    assert nc.prepare(node).shot["ocio_config"] == "ocio://cg-config-v1.0.0_aces-v1.3_ocio-v2.1"
    # a config this installation does not have: linear Rec.709, and the status says which one
    fake_nuke.root()["OCIO_config"].setValue("show_grade_v9")
    prep = nc.prepare(node)
    assert "ocio_config" not in prep.shot and prep.shot["colorspace"] == "linear"
    assert any("show_grade_v9" in w and "$OCIO" in w for w in prep.warnings)


def test_nuke_colour_management_hands_nuke_default_for_ocio_names_only(comp, fake_nuke, monkeypatch, tmp_path):
    """Under Nuke's own colour management a Read in e.g. Gamma2.2 is read through Nuke's
    nuke-default config; shots without such names carry no config (their version is kept)."""
    node, painted, still = comp
    monkeypatch.delenv("OCIO", raising=False)
    install = tmp_path / "Nuke15.1v1"
    config = _config(install / "plugins" / "OCIOConfigs" / "configs" / "nuke-default" / "config.ocio")
    monkeypatch.setitem(fake_nuke.env, "ExecutablePath", str(install / "Nuke15.1"))
    assert "ocio_config" not in nc.prepare(node).shot
    node.setInput(1, painted)
    painted["colorspace"].setValue("Gamma2.2")
    shot = nc.prepare(node).shot
    assert shot["references"][0]["colorspace"] == "Gamma2.2" and shot["ocio_config"] == config


def test_a_farm_machine_with_its_own_config_path_writes_its_own_shot_file(tmp_path):
    """The version folder is shared; its shot.json holds the artist's config path. A farm
    machine whose Nuke keeps the same config elsewhere writes shot.<host>.json beside it
    (never replacing the file another render may be reading)."""
    import json
    import re
    import socket
    from nuke_colorize.host import shotspec
    path = str(tmp_path / "shot.json")
    gui = {"plate": "/p.####.exr", "ocio_config": "/usr/local/Nuke15.1v1/plugins/OCIOConfigs/configs/aces_1.2/config.ocio"}
    farm = dict(gui, ocio_config="/opt/Nuke15.1v1/plugins/OCIOConfigs/configs/aces_1.2/config.ocio")
    assert shotspec.write_machine_shot(path, gui) == path                 # first writer: the version's file
    assert shotspec.write_machine_shot(path, gui) == path                 # same content: kept
    mine = shotspec.write_machine_shot(path, farm)
    assert mine == str(tmp_path / ("shot.%s.json" % re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname())))
    with open(path) as fh:                                                # paths as each machine reads them
        assert shotspec.resolved_shot(json.load(fh), path) == gui
    with open(mine) as fh:
        assert shotspec.resolved_shot(json.load(fh), mine) == farm
    assert shotspec.write_machine_shot(path, farm) == mine                # this machine's view: kept

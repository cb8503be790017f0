"""An OCIO config's identity covers the LUT files it reads (engine key and node version)."""
import hashlib
import os
import shutil

from nuke_colorize.host import ocio_files
from nuke_colorize.host.shotspec import config_digest
from nuke_colorize.shot import Shot

CONFIG_V1 = """ocio_profile_version: 1
search_path: luts:shared
roles:
  default: raw
colorspaces:
  - !<ColorSpace>
    name: raw
  - !<ColorSpace>
    name: show_log
    to_reference: !<FileTransform> {src: show.spi1d, interpolation: linear}
  - !<ColorSpace>
    name: grade
    to_reference: !<GroupTransform>
      children:
        - !<FileTransform> {src: "grade.cube", interpolation: best}
        - !<FileTransform> {src: show.spi1d}
        - !<ColorSpaceTransform> {src: raw, dst: show_log}
  - !<ColorSpace>
    name: via
    from_reference: !<ColorSpaceTransform>
      src: raw
      dst: grade
"""

CONFIG_V2 = """ocio_profile_version: 2
environment:
  SHOT: sh010   # default
search_path:
  - luts/$SHOT
  - luts/common
colorspaces:
  - !<ColorSpace>
    name: shot_lut
    from_scene_reference: !<FileTransform>
      src: ${SHOT}_look.cube
      interpolation: tetrahedral
"""


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(text)
    return path


def _v1(root):
    cfg = _write(os.path.join(root, "config.ocio"), CONFIG_V1)
    _write(os.path.join(root, "luts", "show.spi1d"), "Version 1\nFrom 0 1\nLength 2\nComponents 1\n{\n0\n1\n}\n")
    _write(os.path.join(root, "shared", "grade.cube"), "LUT_1D_SIZE 2\n0 0 0\n1 1 1\n")
    return cfg


def test_parse_finds_search_paths_sources_and_environment():
    search, srcs, env = ocio_files.parse_config(CONFIG_V1)
    assert search == ["luts", "shared"] and srcs == ["show.spi1d", "grade.cube", "show.spi1d"] and env == {}
    search, srcs, env = ocio_files.parse_config(CONFIG_V2)
    assert search == ["luts/$SHOT", "luts/common"] and srcs == ["${SHOT}_look.cube"] and env == {"SHOT": "sh010"}


def test_files_are_found_through_the_search_path(tmp_path):
    cfg = _v1(str(tmp_path))
    found = dict(ocio_files.referenced_files(cfg))
    assert found == {"show.spi1d": os.path.join(str(tmp_path), "luts", "show.spi1d"),
                     "grade.cube": os.path.join(str(tmp_path), "shared", "grade.cube")}


def test_identity_follows_lut_content_not_path_or_mtime(tmp_path):
    a = _v1(str(tmp_path / "a"))
    ident = ocio_files.config_identity(a)
    # the same config and LUTs installed elsewhere, later: the same identity
    shutil.copytree(str(tmp_path / "a"), str(tmp_path / "b"))
    b = str(tmp_path / "b" / "config.ocio")
    os.utime(os.path.join(os.path.dirname(b), "luts", "show.spi1d"), (1, 1))
    assert ocio_files.config_identity(b) == ident
    # a LUT edited in place: another identity (the config file itself unchanged)
    with open(os.path.join(os.path.dirname(b), "shared", "grade.cube"), "a") as fh:
        fh.write("# regraded\n")
    assert ocio_files.config_identity(b) != ident
    # a LUT gone: another identity again
    os.remove(os.path.join(os.path.dirname(b), "luts", "show.spi1d"))
    assert ocio_files.config_identity(b) not in (ident, None)


def test_context_variables_choose_the_file(tmp_path, monkeypatch):
    cfg = _write(str(tmp_path / "config.ocio"), CONFIG_V2)
    for shot in ("sh010", "sh020"):
        _write(str(tmp_path / "luts" / shot / (shot + "_look.cube")), "LUT_1D_SIZE 2\n0 0 0\n1 1 %s\n" % shot[-2:])
    monkeypatch.delenv("SHOT", raising=False)
    assert dict(ocio_files.referenced_files(cfg))["${SHOT}_look.cube"].endswith("sh010_look.cube")
    default = ocio_files.config_identity(cfg)
    monkeypatch.setenv("SHOT", "sh020")
    assert dict(ocio_files.referenced_files(cfg))["${SHOT}_look.cube"].endswith("sh020_look.cube")
    assert ocio_files.config_identity(cfg) != default


def test_a_config_without_files_keeps_its_plain_content_hash(tmp_path):
    cfg = _write(str(tmp_path / "config.ocio"), "ocio_profile_version: 2\nroles:\n  default: raw\n")
    data = open(cfg, "rb").read()
    assert ocio_files.config_identity(cfg) == "sha256:" + hashlib.sha256(data).hexdigest()
    assert config_digest(cfg) == "sha1:" + hashlib.sha1(data).hexdigest()
    assert ocio_files.config_identity(str(tmp_path / "missing.ocio")) is None


def test_engine_key_and_node_version_change_when_a_lut_is_edited(tmp_path):
    cfg = _v1(str(tmp_path / "cfg"))
    shot = Shot.from_dict({"plate": str(tmp_path / "plate.####.exr"), "frames": [1, 2], "colorspace": "show_log",
                           "references": [{"frame": 1, "image": str(tmp_path / "ref.png")}],
                           "output": str(tmp_path / "out.####.exr"), "cache": str(tmp_path / "cache"),
                           "ocio_config": cfg}, str(tmp_path))
    before, digest = shot._ocio_identity(), config_digest(cfg)
    with open(os.path.join(str(tmp_path / "cfg"), "luts", "show.spi1d"), "w") as fh:
        fh.write("Version 1\nFrom 0 1\nLength 2\nComponents 1\n{\n0\n0.5\n}\n")
    assert shot._ocio_identity() != before
    assert config_digest(cfg) != digest


def test_a_large_lut_is_identified_by_samples_that_see_a_regrade(tmp_path):
    cfg = _write(str(tmp_path / "config.ocio"), "search_path: luts\ncolorspaces:\n  - !<ColorSpace>\n"
                 "    name: look\n    to_reference: !<FileTransform> {src: big.spi3d}\n")
    lut = tmp_path / "luts" / "big.spi3d"
    lut.parent.mkdir()
    rng = __import__("numpy").random.default_rng(0)
    body = "\n".join("%.6f %.6f %.6f" % tuple(v) for v in rng.random((150000, 3)))
    lut.write_text(body)
    assert lut.stat().st_size > ocio_files.FULL_HASH_BYTES
    ident = ocio_files.config_identity(cfg)
    regraded = "\n".join("%.6f %.6f %.6f" % tuple(v) for v in rng.random((150000, 3)))
    lut.write_text(regraded[:len(body)].ljust(len(body)))       # same size, new values
    assert ocio_files.config_identity(cfg) != ident

"""Weights management: models folder, manifest, install (zip/folder), verify, safe loading.

Checkpoints are built here with exactly the official layout (random tensors), plus broken
variants: missing key, wrong shape, truncated file, a pickle that would run code, and zip
archives whose members escape the destination.
"""
from __future__ import annotations

import json
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import pytest
import torch

from nuke_colorize import weights
from nuke_colorize.cli import main as cli_main
from nuke_colorize.errors import InputError, ModelError
from nuke_colorize.networks import layout

from conftest import LAYOUT_JSON, REPO, foreign_checkpoint, patch_zip_member

NAMES = {role: Path(p).name for role, p in layout.ARCHIVE_PATHS.items()}


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def official(tmp_path_factory) -> Path:
    """A folder laid out like the unpacked release: checkpoints/... and data/..."""
    root = tmp_path_factory.mktemp("release")
    for i, (role, rel) in enumerate(layout.ARCHIVE_PATHS.items()):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        torch.save(layout.random_state_dict(role, seed=i), str(p))
    (root / "data" / "vgg19_gray.pth").write_bytes(b"not needed")
    return root


@pytest.fixture(scope="module")
def official_zip(official, tmp_path_factory) -> Path:
    z = tmp_path_factory.mktemp("zip") / "colorization_checkpoint.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_STORED) as zf:
        for p in sorted(official.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(official).as_posix())
    return z


class Evil:
    """Pickles to a call that creates ``marker`` when unpickled."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if ".tmp-" in p.name]


# ------------------------------------------------------------------ layout and manifest
def test_packaged_layout_is_the_spec():
    if not LAYOUT_JSON.is_file():
        pytest.skip("spec not present")
    assert json.loads(layout.LAYOUT_PATH.read_text()) == json.loads(LAYOUT_JSON.read_text())


def test_manifest_file_matches_code_and_names_source():
    on_disk = json.loads((REPO / "models" / "manifest.json").read_text())
    assert on_disk == json.loads(weights.manifest_text())
    m = on_disk["models"]["deepexemplar"]
    assert [f["name"] for f in m["files"]] == ["nonlocal_net_iter_76000.pth",
                                               "colornet_iter_76000.pth", "vgg19_conv.pth"]
    assert "colorization_checkpoint.zip" in m["download"] and m["licence"].startswith("MIT")
    assert sum(f["num_tensors"] for f in m["files"]) == 43 + 65 + 32


def test_models_dir_env_override_and_checkout_default(monkeypatch, tmp_path):
    monkeypatch.setenv(weights.ENV_VAR, str(tmp_path / "m"))
    assert weights.models_dir() == (tmp_path / "m").resolve()
    monkeypatch.delenv(weights.ENV_VAR)
    assert weights.models_dir() == REPO / "models"
    assert weights.models_dir(str(tmp_path)) == tmp_path.resolve()


# ------------------------------------------------------------------ safe loading
def test_load_official_layout_and_legacy_format(official, tmp_path):
    p = official / layout.ARCHIVE_PATHS["correspondence"]
    sd = weights.load_state_dict(p, "correspondence")
    assert len(sd) == 43 and tuple(sd["theta.weight"].shape) == (256, 256, 1, 1)
    legacy = tmp_path / "legacy.pth"
    torch.save(sd, str(legacy), _use_new_zipfile_serialization=False)
    assert weights.load_state_dict(legacy, "correspondence").keys() == sd.keys()


@pytest.mark.parametrize("damage", ["missing_key", "wrong_shape", "extra_key", "not_a_dict"])
def test_wrong_layout_is_one_clear_error(official, tmp_path, damage):
    sd = dict(torch.load(str(official / layout.ARCHIVE_PATHS["correspondence"]), weights_only=True))
    if damage == "missing_key":
        del sd["phi.bias"]
    elif damage == "wrong_shape":
        sd["layer.1.conv2.weight"] = torch.zeros(256, 128, 3, 3)
    elif damage == "extra_key":
        sd["module.extra"] = torch.zeros(1)
    else:
        sd = [torch.zeros(1)]
    p = tmp_path / "nonlocal_net_iter_76000.pth"
    torch.save(sd, str(p))
    with pytest.raises(ModelError) as ei:
        weights.load_state_dict(p, "correspondence")
    msg = str(ei.value)
    assert "\n" not in msg and str(p) in msg and "nuke-colorize models install" in msg
    expect = {"missing_key": "phi.bias", "wrong_shape": "layer.1.conv2.weight is [256, 128, 3, 3], "
              "expected [256, 256, 3, 3]", "extra_key": "module.extra", "not_a_dict": "not a dictionary"}
    assert expect[damage] in msg


@pytest.mark.parametrize("resave", ["dataparallel", "wrapped", "wrapped_dataparallel"])
def test_resaved_checkpoints_of_the_same_networks_install_and_load(official, tmp_path, resave):
    """The official training script saves ``net.module.state_dict()``; a fine-tuning script
    that saves the DataParallel wrapper ('module.' on every key) or a checkpoint dictionary
    ({'state_dict': ..., 'iter': 76000}) holds the same parameters: installed, verified and
    loaded strictly into the networks, with the same values."""
    from nuke_colorize.networks.deepexemplar import DeepExemplarNet
    src = tmp_path / "src"
    shutil.copytree(official, src)
    originals = {}
    for role, rel in layout.ARCHIVE_PATHS.items():
        sd = torch.load(str(src / rel), weights_only=True)
        originals[role] = sd
        if "dataparallel" in resave:
            sd = {"module." + k: v for k, v in sd.items()}
        if "wrapped" in resave:
            sd = {"state_dict": sd, "iter": 76000, "lr": 1e-4}
        torch.save(sd, str(src / rel))
    dest = tmp_path / "m"
    weights.install(str(src), dest)
    assert {s.status for s in weights.status(dest, deep=True)} == {"ok"}
    states = weights.load_model_states(folder=dest)
    net = DeepExemplarNet().load_official(states)
    assert torch.equal(net.color.conv10_ab.weight, originals["colorization"]["conv10_ab.weight"])
    assert torch.equal(net.corr.theta.bias, originals["correspondence"]["theta.bias"])


def _training_run_zip(official: Path, z: Path, iterations, official_nonlocal: bool = False) -> None:
    """A zip of a fine-tuning run's output: <net>_iter_<N>.pth for each N (and a discriminator),
    the VGG file at data/vgg19_conv.pth."""
    with zipfile.ZipFile(z, "w", zipfile.ZIP_STORED) as zf:
        zf.write(official / layout.ARCHIVE_PATHS["vgg19"], "run/data/vgg19_conv.pth")
        for it in iterations:
            zf.write(official / layout.ARCHIVE_PATHS["correspondence"], f"run/checkpoints/ft/nonlocal_net_iter_{it}.pth")
            zf.write(official / layout.ARCHIVE_PATHS["colorization"], f"run/checkpoints/ft/colornet_iter_{it}.pth")
            zf.writestr(f"run/checkpoints/ft/discriminator_iter_{it}.pth", b"not needed")
        if official_nonlocal:
            zf.write(official / layout.ARCHIVE_PATHS["correspondence"], "run/nonlocal_net_iter_76000.pth")


def test_checkpoints_of_another_training_iteration_install_under_the_official_names(official, tmp_path, capsys):
    """The official training code names its files <net>_iter_<N>.pth; a fine-tuning run's
    nonlocal_net_iter_120000.pth and colornet_iter_120000.pth are the same networks."""
    z = tmp_path / "finetune.zip"
    _training_run_zip(official, z, [120000])
    dest = tmp_path / "m"
    assert cli_main(["models", "--models-dir", str(dest), "install", "--from", str(z)]) == 0
    out = capsys.readouterr().out
    assert "installed colornet_iter_76000.pth" in out and "from colornet_iter_120000.pth" in out
    assert {s.status for s in weights.status(dest, deep=True)} == {"ok"}
    assert weights.sha256_of(dest / "colornet_iter_76000.pth") == \
        weights.sha256_of(official / layout.ARCHIVE_PATHS["colorization"])
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(z) as zf:
        zf.extractall(folder)
    assert [s.detail for s in weights.install(str(folder), tmp_path / "m2")][:2] == \
        ["installed from nonlocal_net_iter_120000.pth", "installed from colornet_iter_120000.pth"]


def test_several_training_iterations_or_a_mix_with_the_official_names_are_refused(official, tmp_path):
    z = tmp_path / "run.zip"
    _training_run_zip(official, z, [2000, 4000])
    with pytest.raises(ModelError, match=r"several training iterations \(2000, 4000\)"):
        weights.install(str(z), tmp_path / "m")
    z2 = tmp_path / "mixed.zip"
    _training_run_zip(official, z2, [120000], official_nonlocal=True)
    with pytest.raises(ModelError, match="colornet_iter_76000.pth not found"):
        weights.install(str(z2), tmp_path / "m")
    assert not (tmp_path / "m").exists() or not list((tmp_path / "m").glob("*.pth"))


def test_partly_prefixed_or_foreign_wrapped_state_is_still_refused(official, tmp_path):
    sd = torch.load(str(official / layout.ARCHIVE_PATHS["vgg19"]), weights_only=True)
    half = {("module." + k if i % 2 else k): v for i, (k, v) in enumerate(sd.items())}
    p = tmp_path / "vgg19_conv.pth"
    torch.save(half, str(p))
    with pytest.raises(ModelError, match=r"parameter\(s\) missing"):
        weights.load_state_dict(p, "vgg19")
    torch.save({"state_dict": {"module.conv1_1.weight": torch.zeros(64, 3, 3, 3)}}, str(p))
    with pytest.raises(ModelError, match=r"parameter\(s\) missing"):
        weights.load_state_dict(p, "vgg19")


def test_truncated_file_is_one_clear_error(official, tmp_path):
    data = (official / layout.ARCHIVE_PATHS["correspondence"]).read_bytes()
    p = tmp_path / "nonlocal_net_iter_76000.pth"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="damaged or truncated") as ei:
        weights.load_state_dict(p, "correspondence")
    assert "not a readable checkpoint" in str(ei.value) and "pickled code" not in str(ei.value)


@pytest.mark.parametrize("writer", ["torch_save", "torch_legacy", "raw_pickle"])
def test_code_carrying_pickle_is_refused_and_never_runs(tmp_path, writer):
    marker = tmp_path / "pwned.txt"
    p = tmp_path / "colornet_iter_76000.pth"
    if writer == "torch_save":
        torch.save({"conv1_1.0.weight": Evil(str(marker))}, str(p))
    elif writer == "torch_legacy":
        torch.save({"conv1_1.0.weight": Evil(str(marker))}, str(p), _use_new_zipfile_serialization=False)
    else:
        p.write_bytes(pickle.dumps(Evil(str(marker))))
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ModelError) as ei:
            weights.load_state_dict(p, "colorization")
    msg = str(ei.value)
    assert "pickled code" in msg and "it would call" in msg and "open" in msg and "\n" not in msg
    assert "not a readable checkpoint" not in msg
    assert not marker.exists()
    # torch's multi-line "Detected pickle protocol 4" UserWarning is not printed before the refusal
    assert [str(w.message) for w in caught] == []


def _numpy_state_dict(path):
    import numpy as np
    torch.save({"conv1_1.0.weight": np.zeros(3)}, str(path))


@pytest.mark.parametrize("kind", ["random", "html", "empty", "plain_pickle", "numpy"])
def test_damaged_or_foreign_file_is_not_called_code(tmp_path, kind):
    """Bytes torch's restricted unpickler cannot parse are 'not a readable checkpoint'; only a
    pickle naming a callable or non-tensor class (numpy arrays) is refused as pickled code."""
    p = tmp_path / "vgg19_conv.pth"
    if kind in ("random", "html"):
        p.write_bytes(foreign_checkpoint(kind))
    elif kind == "empty":
        p.write_bytes(b"")
    elif kind == "plain_pickle":
        p.write_bytes(pickle.dumps({"conv1_1.weight": [1.0, 2.0]}, protocol=4))
    else:
        _numpy_state_dict(p)
    with pytest.raises(ModelError) as ei:
        weights.load_state_dict(p, "vgg19")
    msg = str(ei.value)
    assert str(p) in msg and "\n" not in msg and ei.value.exit_code == 3
    if kind == "numpy":
        assert "pickled code or objects other than tensors" in msg and "numpy" in msg
    else:
        assert "not a readable checkpoint" in msg and "pickled code" not in msg
        assert {"html": "web page", "empty": "empty"}.get(kind, "not a PyTorch file") in msg


def test_verify_reports_a_damaged_file_as_unreadable_not_code(official, tmp_path, capsys):
    dest = tmp_path / "m"
    weights.install(str(official), dest)
    (dest / "vgg19_conv.pth").write_bytes(b"<html><body>Not Found</body></html>")
    assert cli_main(["models", "--models-dir", str(dest), "verify"]) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "vgg19_conv.pth" in err
    assert "not a readable checkpoint" in err and "pickled code" not in err


def test_missing_files_named_with_location_and_install_command(tmp_path):
    with pytest.raises(ModelError) as ei:
        weights.load_model_states(folder=tmp_path)
    msg = str(ei.value)
    assert "\n" not in msg
    assert str(tmp_path / "nonlocal_net_iter_76000.pth") in msg
    assert "colornet_iter_76000.pth" in msg and "vgg19_conv.pth" in msg
    assert "nuke-colorize models install --from colorization_checkpoint.zip" in msg
    assert ei.value.exit_code == 3


@pytest.mark.parametrize("under", ["", "colorization_checkpoint"])
def test_archive_unpacked_into_the_models_folder_is_named_with_the_command_that_installs_it(
        official, tmp_path, monkeypatch, capsys, under):
    """Unzipping the release into the models folder leaves checkpoints/video_moredata_l1/...
    and data/vgg19_conv.pth there, not the files the backend loads: the one-line error says
    so and gives the install command for that folder, which then works."""
    models = tmp_path / "models"
    shutil.copytree(official, models / under if under else models)
    monkeypatch.setenv(weights.ENV_VAR, str(models))
    with pytest.raises(ModelError) as ei:
        weights.check_model_files()
    msg = str(ei.value)
    assert "\n" not in msg and str(models / "nonlocal_net_iter_76000.pth") in msg
    assert "unpacked into the models folder" in msg
    assert str(models / under / layout.ARCHIVE_PATHS["correspondence"]) in msg
    assert cli_main(["models", "verify"]) == 3
    assert "unpacked into the models folder" in capsys.readouterr().err
    command = msg.split("run: nuke-colorize ", 1)[1].rstrip(")").split()
    assert cli_main(command) == 0
    assert {s.status for s in weights.status(models, deep=True)} == {"ok"}
    weights.check_model_files()


# ------------------------------------------------------------------ install / verify
def test_install_from_folder_records_sha256_and_verifies(official, tmp_path, capsys):
    dest = tmp_path / "models"
    done = weights.install(str(official), dest)
    assert sorted(s.name for s in done) == sorted(NAMES.values())
    rec = json.loads((dest / "installed.json").read_text())["files"]
    for role, name in NAMES.items():
        src = official / layout.ARCHIVE_PATHS[role]
        assert (dest / name).read_bytes() == src.read_bytes()
        assert rec[name]["sha256"] == weights.sha256_of(src) and rec[name]["role"] == role
    assert not (dest / "vgg19_gray.pth").exists()
    assert (dest / "manifest.json").is_file() and _no_temp_files(dest)
    states = weights.load_model_states(folder=dest)
    assert set(states) == {"correspondence", "colorization", "vgg19"}

    assert cli_main(["models", "--models-dir", str(dest), "verify"]) == 0
    out = capsys.readouterr().out
    assert out.count("SHA-256 matches") == 3

    # a changed file (same layout, other values) is reported by verify
    torch.save(layout.random_state_dict("vgg19", seed=99), str(dest / "vgg19_conv.pth"))
    assert cli_main(["models", "--models-dir", str(dest), "verify"]) == 3
    err = capsys.readouterr().err
    assert "vgg19_conv.pth" in err and "modified" in err and len(err.strip().splitlines()) == 1


def test_install_from_zip_via_cli(official_zip, tmp_path, monkeypatch, capsys):
    dest = tmp_path / "m"
    monkeypatch.setenv(weights.ENV_VAR, str(dest))
    assert cli_main(["models", "install", "--from", str(official_zip)]) == 0
    assert "recorded in" in capsys.readouterr().out
    assert [s.status for s in weights.status(dest, deep=True)] == ["ok"] * 3
    assert cli_main(["models", "list"]) == 0
    assert capsys.readouterr().out.count("installed") >= 3


@pytest.mark.parametrize("bad_name", ["../evil.pth", "/tmp/abs_evil.pth", "ok/../../evil.pth"])
def test_zip_with_escaping_member_is_refused(official, tmp_path, bad_name):
    z = tmp_path / "sub" / "colorization_checkpoint.zip"
    z.parent.mkdir()
    with zipfile.ZipFile(z, "w") as zf:
        for role, rel in layout.ARCHIVE_PATHS.items():
            zf.write(official / rel, rel)
        zf.writestr(bad_name, b"payload")
    dest = tmp_path / "sub" / "models"
    with pytest.raises(ModelError, match="refused archive"):
        weights.install(str(z), dest)
    assert not dest.exists() or not any(dest.iterdir())
    assert not (tmp_path / "evil.pth").exists() and not (tmp_path / "sub" / "evil.pth").exists()
    assert not Path("/tmp/abs_evil.pth").exists()


def test_install_is_all_or_nothing_on_a_broken_file(official, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(official, src)
    p = src / layout.ARCHIVE_PATHS["vgg19"]
    sd = layout.random_state_dict("vgg19")
    sd["conv5_4.bias"] = torch.zeros(7)
    torch.save(sd, str(p))
    dest = tmp_path / "models"
    with pytest.raises(ModelError) as ei:
        weights.install(str(src), dest)
    msg = str(ei.value)
    assert "vgg19_conv.pth" in msg and "conv5_4.bias" in msg and "nothing was installed" in msg
    assert not dest.exists() or [q.name for q in dest.iterdir()] == []


def test_install_with_a_file_absent_names_it(official, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(official, src)
    (src / layout.ARCHIVE_PATHS["colorization"]).unlink()
    with pytest.raises(ModelError, match="colornet_iter_76000.pth not found in the source"):
        weights.install(str(src), tmp_path / "models")


def test_install_from_nonsense_source(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        weights.install(str(tmp_path / "nope.zip"), tmp_path / "m")
    f = tmp_path / "notzip.zip"
    f.write_bytes(b"hello")
    with pytest.raises(InputError, match="not a zip archive"):
        weights.install(str(f), tmp_path / "m")


def test_partially_downloaded_zip_says_so(official_zip, tmp_path, capsys):
    """The release zip cut short (an interrupted download, a .crdownload renamed) starts like
    a zip but has no end: told as an incomplete download, not as 'not a zip archive'."""
    data = official_zip.read_bytes()
    part = tmp_path / "colorization_checkpoint.zip"
    part.write_bytes(data[:len(data) * 3 // 5])
    dest = tmp_path / "m"
    rc = cli_main(["models", "--models-dir", str(dest), "install", "--from", str(part)])
    err = capsys.readouterr().err.strip()
    assert rc != 0 and len(err.splitlines()) == 1
    assert "incomplete zip archive" in err and "download colorization_checkpoint.zip again" in err
    assert "not a zip archive" not in err
    assert not dest.exists() or not list(dest.glob("*.pth"))


def test_cli_reports_missing_weights_in_one_line(tmp_path, capsys):
    rc = cli_main(["models", "--models-dir", str(tmp_path), "verify"])
    err = capsys.readouterr().err.strip()
    assert rc == 3 and len(err.splitlines()) == 1 and "models install" in err
    assert cli_main(["models", "--models-dir", str(tmp_path), "list"]) == 0
    assert capsys.readouterr().out.count("  missing ") == 3


def test_weights_fingerprint_follows_content(official, tmp_path):
    dest = tmp_path / "m"
    weights.install(str(official), dest)
    a = weights.weights_fingerprint(folder=dest)
    os.remove(dest / "installed.json")            # falls back to hashing: same identity
    assert weights.weights_fingerprint(folder=dest) == a
    torch.save(layout.random_state_dict("vgg19", seed=5), str(dest / "vgg19_conv.pth"))
    assert weights.weights_fingerprint(folder=dest) != a


def test_weights_replaced_by_hand_change_the_fingerprint(official, tmp_path):
    """Other weights of the official layout have exactly the installed file's size; copied
    over it (installed.json still recording the old SHA-256), the identity must change."""
    dest = tmp_path / "m"
    weights.install(str(official), dest)
    a = weights.weights_fingerprint(folder=dest)
    target = dest / "colornet_iter_76000.pth"
    size = target.stat().st_size
    torch.save(layout.random_state_dict("colorization", seed=7), str(target))
    assert target.stat().st_size == size
    assert weights.weights_fingerprint(folder=dest) != a
    assert weights.weights_fingerprint(folder=dest) == weights.weights_fingerprint(folder=dest)


def test_install_records_mtime_and_trusts_an_untouched_file(official, tmp_path, monkeypatch):
    dest = tmp_path / "m"
    weights.install(str(official), dest)
    rec = weights.read_installed(dest)["vgg19_conv.pth"]
    assert rec["mtime_us"] == os.stat(dest / "vgg19_conv.pth").st_mtime_ns // 1000
    hashed = []
    monkeypatch.setattr(weights, "sha256_of", lambda p: hashed.append(p) or "0" * 64)
    weights.weights_fingerprint(folder=dest)
    assert hashed == []                     # recorded size and mtime: the record is used


def test_verify_adds_the_mtime_to_records_of_an_older_install(official, tmp_path, monkeypatch):
    """installed.json written before mtimes were recorded: its records are trusted on their size
    as before (no 240 MB hash per render task); 'models verify' adds the mtimes, after which a
    file replaced by hand changes the fingerprint."""
    dest = tmp_path / "m"
    weights.install(str(official), dest)
    data = json.loads((dest / "installed.json").read_text())
    for rec in data["files"].values():
        del rec["mtime_us"]
    (dest / "installed.json").write_text(json.dumps(data))
    real = weights.sha256_of
    hashed = []
    monkeypatch.setattr(weights, "sha256_of", lambda p: hashed.append(p) or real(p))
    a = weights.weights_fingerprint(folder=dest)
    assert hashed == []
    assert {s.status for s in weights.status(dest, deep=True)} == {"ok"}
    recs = weights.read_installed(dest)
    assert all(recs[n]["mtime_us"] == os.stat(dest / n).st_mtime_ns // 1000 for n in NAMES.values())
    assert recs["vgg19_conv.pth"]["sha256"] == data["files"]["vgg19_conv.pth"]["sha256"]
    torch.save(layout.random_state_dict("vgg19", seed=9), str(dest / "vgg19_conv.pth"))
    assert weights.weights_fingerprint(folder=dest) != a


# ------------------------------------------------------------------ broken archives
def _small_zip(z: Path, first: bytes = b"w" * 200_000, duplicate: bool = False) -> None:
    """The three official member names, the first holding ``first`` (stored), the others junk."""
    import warnings
    with zipfile.ZipFile(z, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(layout.ARCHIVE_PATHS["correspondence"], first)
        zf.writestr(layout.ARCHIVE_PATHS["colorization"], b"junk")
        zf.writestr(layout.ARCHIVE_PATHS["vgg19"], b"junk")
        if duplicate:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")   # zipfile warns "Duplicate name"
                zf.writestr(layout.ARCHIVE_PATHS["vgg19"], b"junk")


@pytest.mark.parametrize("damage,expect", [
    ("crc", ("is damaged (CRC-32 check failed)", "download the archive again")),
    ("deflate64", ("compression method that is not supported (Deflate64)", "re-zip it with ordinary deflate",
                   "unzip it and install from the folder")),
    ("encrypted", ("is encrypted", "unzip it with its password")),
])
def test_unreadable_zip_member_is_one_clear_error(tmp_path, capsys, damage, expect):
    z = tmp_path / "colorization_checkpoint.zip"
    _small_zip(z)
    member = layout.ARCHIVE_PATHS["correspondence"]
    if damage == "crc":
        data = bytearray(z.read_bytes())
        data[zipfile.ZipFile(z).getinfo(member).header_offset + 30 + len(member) + 1000] ^= 0xFF
        z.write_bytes(bytes(data))
    elif damage == "deflate64":
        patch_zip_member(z, member, method=9)
    else:
        patch_zip_member(z, member, flags=0x1)
    dest = tmp_path / "models"
    with pytest.raises(ModelError) as ei:
        weights.install(str(z), dest)
    msg = str(ei.value)
    assert str(z) in msg and f"member '{member}'" in msg and "nothing was installed" in msg
    for frag in expect:
        assert frag in msg
    assert ei.value.exit_code == 3
    assert not dest.exists() or list(dest.iterdir()) == []
    # through the CLI: one line, exit 3, no "internal error"
    assert cli_main(["models", "--models-dir", str(dest), "install", "--from", str(z)]) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "internal error" not in err and expect[0] in err
    assert not dest.exists() or list(dest.iterdir()) == []


def test_zip_listing_a_member_twice_gets_a_zip_hint(tmp_path):
    z = tmp_path / "colorization_checkpoint.zip"
    _small_zip(z, duplicate=True)
    with pytest.raises(ModelError) as ei:
        weights.install(str(z), tmp_path / "models")
    msg = str(ei.value)
    assert str(z) in msg and "lists data/vgg19_conv.pth twice" in msg
    assert "re-create the zip" in msg and "unzip it and install from the folder" in msg
    assert "point --from at a folder" not in msg
    assert not (tmp_path / "models").exists() or list((tmp_path / "models").iterdir()) == []


# ------------------------------------------------------------------ choosing the file
def test_pick_matches_whole_path_components():
    vgg = layout.ARCHIVE_PATHS["vgg19"]   # data/vgg19_conv.pth
    pick = weights._pick
    assert pick(["olddata/vgg19_conv.pth", "data/vgg19_conv.pth"], vgg, "vgg19_conv.pth", "src") == vgg
    assert pick(["data/vgg19_conv.pth", "olddata/vgg19_conv.pth"], vgg, "vgg19_conv.pth", "src") == vgg
    assert pick(["release/data/vgg19_conv.pth", "x/mydata/vgg19_conv.pth"], vgg, "vgg19_conv.pth",
                "src") == "release/data/vgg19_conv.pth"
    assert pick(["data/vgg19_conv.pth", "backup/data/vgg19_conv.pth"], vgg, "vgg19_conv.pth", "src") == vgg
    assert pick(["data\\vgg19_conv.pth", "olddata\\vgg19_conv.pth"], vgg, "vgg19_conv.pth",
                "src") == "data\\vgg19_conv.pth"
    assert pick(["olddata/vgg19_conv.pth"], vgg, "vgg19_conv.pth", "src") == "olddata/vgg19_conv.pth"
    with pytest.raises(ModelError, match="several files named vgg19_conv.pth"):
        pick(["olddata/vgg19_conv.pth", "mydata/vgg19_conv.pth"], vgg, "vgg19_conv.pth", "src")
    with pytest.raises(ModelError, match="unzip it and install from a folder"):
        pick(["olddata/vgg19_conv.pth", "mydata/vgg19_conv.pth"], vgg, "vgg19_conv.pth", "src", is_zip=True)


def test_folder_with_official_and_lookalike_path_installs_the_official_one(official, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(official, src)
    (src / "olddata").mkdir()
    (src / "olddata" / "vgg19_conv.pth").write_bytes(b"an old, broken copy")
    done = weights.install(str(src), tmp_path / "models")
    assert len(done) == 3
    installed = (tmp_path / "models" / "vgg19_conv.pth").read_bytes()
    assert installed == (official / "data" / "vgg19_conv.pth").read_bytes()


# ------------------------------------------------------------------ damaged installed.json
@pytest.mark.parametrize("content", ['{"files": {"vgg19_conv.pth": "x"}}',
                                     '{"files": {"vgg19_conv.pth": {"sha256": 5, "size": "big"}}}',
                                     '{"files": "x"}', "not json at all"])
def test_damaged_installed_json_is_reported_not_a_crash(official, tmp_path, capsys, content):
    dest = tmp_path / "m"
    weights.install(str(official), dest)
    fp = weights.weights_fingerprint(folder=dest)
    (dest / "installed.json").write_text(content)
    assert weights.weights_fingerprint(folder=dest) == fp     # hashes the file instead
    assert cli_main(["models", "--models-dir", str(dest), "list"]) == 0
    out = capsys.readouterr().out
    assert "damaged    vgg19_conv.pth" in out and "installed.json" in out
    assert cli_main(["models", "--models-dir", str(dest), "verify"]) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "internal error" not in err
    assert "damaged" in err and "installed.json" in err and "models install" in err
    # installing again repairs the record
    weights.install(str(official), dest)
    assert [s.status for s in weights.status(dest)] == ["ok"] * 3
    assert json.loads((dest / "installed.json").read_text())["files"]["vgg19_conv.pth"]["size"] > 0

"""With ``content_hash`` each input file is read and hashed once per process, and the keys are
those of before (existing caches stay valid).

Each plate frame was read and hashed twice or more in one command: once for the shot's key
(:meth:`Shot.key`) and again for the cache's frame identities (the scene caches' with a
library: ``cache status`` of a library shot hashed each plate frame three times); a matte
frame twice in a shot without a library.
"""
from __future__ import annotations

import collections
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from conftest import write_oiio
from nuke_colorize.cli import main
from nuke_colorize.io import file_identity
from nuke_colorize.io import plate as plate_io

N, W, H = 4, 32, 24


def make_shot(root: Path) -> Path:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    for f in range(1, N + 1):
        y = (xx + yy) / (W + H) * 0.8 + 0.05 * np.sin(xx / 5 + f)
        write_oiio(root / "plate" / f"plate.{f:04d}.exr", np.repeat(y[..., None], 3, -1).astype(np.float32), "half")
        ids = np.zeros((H, W, 1), np.uint8)
        ids[4:12, f:f + 10] = 3
        write_oiio(root / "matte" / f"m.{f:04d}.png", ids, "uint8")
    rgb = np.stack([0.1 + 0.6 * yy / H, 0.3 + 0.5 * xx / W, 0.8 - 0.5 * yy / H], -1)
    write_oiio(root / "ref_1.png", (rgb * 255 + 0.5).astype(np.uint8), "uint8")
    shot = {"plate": "plate/plate.####.exr", "frames": [1, N], "references": [{"frame": 1, "image": "ref_1.png"}],
            "matte": "matte/m.####.png", "content_hash": True,
            "settings": {"feature_size": 64, "max_working_size": 64}, "output": "out/c.####.exr"}
    (root / "shot.json").write_text(json.dumps(shot))
    return root / "shot.json"


def count_hashes(monkeypatch, root: Path) -> collections.Counter:
    """Reads for hashing of each file (relative to ``root``); every process starts with none
    remembered (each test's files are new, so nothing of another test's is there either)."""
    counts: collections.Counter = collections.Counter()
    real = plate_io.file_sha256

    def counting(path, *a, **k):
        counts[os.path.relpath(os.path.abspath(path), root)] += 1
        return real(path, *a, **k)
    monkeypatch.setattr(plate_io, "file_sha256", counting)
    return counts


def inputs():
    return sorted([f"plate/plate.{f:04d}.exr" for f in range(1, N + 1)] +
                  [f"matte/m.{f:04d}.png" for f in range(1, N + 1)] + ["ref_1.png"])


def status(shot: Path, capsys):
    assert main(["cache", "status", str(shot), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_each_file_is_hashed_once_per_process_and_the_keys_are_unchanged(tmp_path, monkeypatch, capsys):
    shot = make_shot(tmp_path)
    counts = count_hashes(monkeypatch, tmp_path)
    assert main(["cache", "build", str(shot), "--quiet", "--no-output"]) == 0
    capsys.readouterr()
    assert sorted(counts) == inputs() and set(counts.values()) == {1}, counts
    counts.clear()
    st = status(shot, capsys)                        # the same process: nothing is read again
    assert st["complete"] and not counts, counts

    # a fresh process (nothing remembered), and the identities hashed from the bytes without
    # the memo: the same key and segment names, and the frames stored by the build are found
    plate_io._content_hashes.clear()
    monkeypatch.setattr(plate_io, "CONTENT_HASH_MEMO_SIZE", 0)   # remembers nothing: as before
    plain = status(shot, capsys)
    assert max(counts.values()) >= 2                 # without the memo: hashed more than once
    assert plain["shot_key"] == st["shot_key"] and plain["segments"] == st["segments"] and plain["complete"]
    for rel in inputs():
        data = (tmp_path / rel).read_bytes()
        assert file_identity(str(tmp_path / rel), content_hash=True) == "sha256:" + hashlib.sha256(data).hexdigest()


def test_a_file_changed_in_place_is_hashed_again(tmp_path, monkeypatch):
    """The memo holds a digest while the file is unchanged: rewritten with the same size and
    its mtime set back, its ctime has moved, so it is read again."""
    path = tmp_path / "a.bin"
    path.write_bytes(b"a" * 100)
    counts = count_hashes(monkeypatch, tmp_path)
    first = file_identity(str(path), content_hash=True)
    assert file_identity(str(path), content_hash=True) == first and counts["a.bin"] == 1
    st = os.stat(path)
    path.write_bytes(b"b" * 100)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(path).st_mtime_ns == st.st_mtime_ns
    changed = file_identity(str(path), content_hash=True)
    assert changed == "sha256:" + hashlib.sha256(b"b" * 100).hexdigest() != first and counts["a.bin"] == 2
    os.replace(tmp_path / "a.bin", tmp_path / "b.bin")   # a file renamed over another is another file
    (tmp_path / "c.bin").write_bytes(b"a" * 100)
    os.replace(tmp_path / "c.bin", path)
    assert file_identity(str(path), content_hash=True) == first and counts["a.bin"] == 3

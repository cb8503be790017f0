"""The files an OCIO config reads, and an identity of the config that covers them
(standard library only: runs in the host as well as in the engine).

A config's colour conversions depend on its LUT files (``FileTransform`` ``src``), found
through its ``search_path`` (relative to the config's folder; colon-separated or a YAML
list) and possibly named through context variables (``$VAR``, ``${VAR}``, ``%VAR%``: the
environment, else the config's ``environment:`` defaults). A cache keyed on the config file
alone would keep frames converted through a LUT that has since been edited. The identity
hashes the config's bytes, then each referenced file's name and content (LUTs over 2 MB by
their size and three samples: :func:`_hash_file`): the same config and LUTs installed at
other paths, with other mtimes (farm machines), give the same identity.

The config is read as text (a YAML subset, no YAML library): ``search_path``, ``src`` and
the ``environment`` block are all this needs.
"""
from __future__ import annotations

import hashlib
import os
import re

_SRC = re.compile(r"""\bsrc\s*:\s*(?:"([^"]*)"|'([^']*)'|((?:\$\{\w+\}|[^,}\r\n#])+))""")
_VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)|%(\w+)%")
_memo = {}


def _unquote(value):
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _block(lines, i):
    """The lines indented under line ``i`` (a ``key:`` with nothing after it)."""
    out = []
    for line in lines[i + 1:]:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[:1].isspace() and not line.startswith("-"):
            break
        out.append(line.strip())
    return out


def _split_paths(value):
    """A v1 ``search_path`` string -> its entries (``:`` or ``;``; a drive letter kept)."""
    parts = [p for p in re.split(r";|:(?![\\/])", value) if p.strip()]
    return [p.strip() for p in parts]


def parse_config(text):
    """(search paths, ``src`` values, environment defaults) of a config's text, in order."""
    lines = text.splitlines()
    search, env = [], {}
    for i, line in enumerate(lines):
        m = re.match(r"^search_path\s*:\s*(.*?)\s*$", line)
        if m:
            value = m.group(1)
            if value and not value.startswith("#"):
                if value.startswith("["):
                    search += [_unquote(v) for v in value.strip("[]").split(",") if v.strip()]
                else:
                    search += _split_paths(_unquote(value))
            else:
                search += [_unquote(item[1:]) for item in _block(lines, i) if item.startswith("-")]
        elif re.match(r"^environment\s*:\s*(#.*)?$", line):
            for item in _block(lines, i):
                key, sep, value = item.partition(":")
                if sep and key.strip():
                    env[key.strip()] = _unquote(value.split(" #")[0])
    srcs = [next(g for g in m.groups() if g is not None).strip() for m in _SRC.finditer(text)
            if _tag_before(text, m.start()) in ("FileTransform", None)]
    return search, [s for s in srcs if s], env


def _tag_before(text, pos):
    """The YAML tag (``!<Name>``) nearest before ``pos``: the transform a ``src`` key belongs
    to, in flow and block style alike (ColorSpaceTransform's ``src`` names a colourspace)."""
    i = text.rfind("!<", 0, pos)
    if i < 0:
        return None
    j = text.find(">", i)
    return text[i + 2:j] if 0 <= j < pos else None


def _expand(value, defaults):
    def one(m):
        name = next(g for g in m.groups() if g is not None)
        return os.environ.get(name, defaults.get(name, m.group(0)))
    return _VAR.sub(one, value)


def referenced_files(config):
    """[(src as written, the file OCIO would read or None)] of a config file, in the order
    the config names them (repeats once). A relative ``src`` is looked up in each search
    path in turn (relative search paths from the config's folder), else in that folder."""
    with open(config, "r", encoding="utf-8", errors="replace") as fh:
        search, srcs, env = parse_config(fh.read())
    base = os.path.dirname(os.path.abspath(config))
    roots = [os.path.join(base, _expand(p, env)) for p in search] or [base]
    out, seen = [], set()
    for src in srcs:
        if src in seen:
            continue
        seen.add(src)
        name = _expand(src, env)
        candidates = [name] if os.path.isabs(name) else [os.path.join(r, name) for r in roots]
        found = next((c for c in candidates if os.path.isfile(c)), None)
        out.append((src, found))
    return out


def config_identity(config, algorithm="sha256"):
    """``<algorithm>:<hex>`` of a config file's content and of every file it reads, or None
    when the config cannot be read. A config that reads no file is identified by the hash
    of its bytes alone. Memoised on the files' size and mtime."""
    try:
        files = [(None, config)] + referenced_files(config)
        stats = [os.stat(p) if p else None for _, p in files]
        stamp = tuple((p, st.st_size, st.st_mtime_ns) if st else (s, None, None)
                      for (s, p), st in zip(files, stats))
    except OSError:
        return None
    key = (algorithm, stamp)
    if key not in _memo:
        h = hashlib.new(algorithm)
        for (src, path), st in zip(files, stats):
            if src is not None:
                h.update(b"\0" + src.encode("utf-8") + b"\0")
            if path is None:
                h.update(b"<missing>")
                continue
            _hash_file(h, path, st.st_size, whole=src is None)
        _memo[key] = "%s:%s" % (algorithm, h.hexdigest())
    return _memo[key]


FULL_HASH_BYTES = 2 << 20   # files up to this size are hashed whole
SAMPLE_BYTES = 512 << 10    # larger LUTs: their size and three samples of this size


def _hash_file(h, path, size, whole=False):
    """Feed ``path``'s content (``size`` bytes) to ``h``: whole when ``whole`` or at most FULL_HASH_BYTES,
    else its size and SAMPLE_BYTES from its start, middle and end. Configs such as ACES 1.x
    read hundreds of LUTs, dozens of them 3D LUTs of several MB; a regraded 3D LUT changes
    values throughout, so the samples see the edit, while a first render does not read the
    whole LUT folder (possibly over the network) to name its config."""
    with open(path, "rb") as fh:
        if whole or size <= FULL_HASH_BYTES:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
            return
        h.update(b"size:%d" % size)
        for offset in (0, (size - SAMPLE_BYTES) // 2, size - SAMPLE_BYTES):
            fh.seek(offset)
            h.update(fh.read(SAMPLE_BYTES))

"""Where a Colorize node's images come from: files the engine can read.

A plate (input 0), matte (input 2) or reference (input 1) that is a plain Read node (through
Dots or disabled nodes) is used straight from its files. Anything else is an upstream tree,
rendered once to an EXR precomp with a temporary Write inside the Colorize group; the precomp
folder is named by a signature of the tree (classes, knob values, connections and the Read
files under it), so an unchanged tree is never rendered twice and a changed one never reuses
stale frames.

Colour: a Read's files are read in the Read's colourspace (its knob, or what its "default"
resolves to). Precomps hold the script's working-space values (the temporary Write is raw):
scene-linear Rec.709 under Nuke's own colour management; under OCIO colour management the
working space's name and the script's config file (``$OCIO``, the project's custom config, or
the file of Nuke's built-in config: :func:`ocio_config`) are handed to the engine, which
converts through that config (when the file cannot be located the values are taken as linear
Rec.709, and the node says so in its status).
"""
from __future__ import annotations

import hashlib
import os
import re

import nuke

from .. import frames as fr
from ..shotspec import file_identity

PLATE, REFERENCE, MATTE = 0, 1, 2
INPUT_NAMES = {PLATE: "plate", REFERENCE: "reference", MATTE: "matte"}
# knobs that do not change pixels (layout, labels, callbacks, buttons)
_UI_KNOBS = frozenset("""name xpos ypos selected label note_font note_font_size note_font_color
tile_color gl_color hide_input postage_stamp dope_sheet bookmark help icon indicators cached
panelDropped onCreate onDestroy knobChanged updateUI autolabel status reload""".split())
_UI_KNOB_CLASSES = frozenset(("Tab_Knob", "Text_Knob", "PyScript_Knob", "Script_Knob"))
_READ_PATH_KNOBS = frozenset(("file", "proxy"))   # a Read's paths: by name in tree signatures
_COLORSPACE_NAMES = {"linear": "linear", "srgb": "srgb", "rec709": "rec709", "cineon": "cineon"}


class SourceError(Exception):
    """Something the compositor must fix (nothing connected, a missing file...)."""


def plain_read(node):
    """The Read node whose files ``node`` shows unchanged, or None.

    Follows Dots and disabled nodes; the Read must use its files' own frame numbers.
    """
    seen = 0
    while node is not None and seen < 100:
        seen += 1
        cls = node.Class()
        if cls == "Read":
            if node["disable"].value():
                return None
            mode = node.knob("frame_mode")
            frame_expr = node.knob("frame")
            if mode is not None and frame_expr is not None and frame_expr.value().strip():
                return None  # retimed: file frame != script frame
            return node
        disabled = node.knob("disable") is not None and node["disable"].value()
        if cls == "Dot" or (disabled and cls not in ("Group", "Input")):
            node = node.input(0)
            continue
        return None
    return None


def read_file(read):
    """A Read's (full-size) file pattern, absolute (see :func:`absolute`), TCL expressions
    (``[getenv SHOT]``...) evaluated, frame token as ``####``."""
    text = read["file"].value()
    if "[" in text:
        try:
            evaluated = _evaluated_file(read, text)
        except (RuntimeError, ValueError, TypeError, NameError, SyntaxError):
            evaluated = None
        if evaluated:
            text = evaluated
    return fr.to_hashes(absolute(text)) if text else text


_LAST_PRINTF = re.compile(r"%(0?)(\d*)d(?!.*%0?\d*d)")


def _evaluated_file(read, text):
    """The Read's ``file`` with its TCL evaluated, the frame token kept.

    ``nuke.filename`` does that, but "based on the root.proxy settings and which of the
    fullsize/proxy filenames are filled in": in proxy mode it answers the Read's *proxy* file
    when one is set. The engine needs the full-size frames (and the shot version must not
    change with proxy mode), so then the file knob itself is evaluated (``evaluate()`` puts
    the current frame's number in place of the token, which is put back)."""
    proxy = read.knob("proxy")
    if not (_proxy_mode() and proxy is not None and proxy.value()):
        return nuke.filename(read)
    value = read["file"].evaluate()
    token = _LAST_PRINTF.search(text)   # File_Knob.value() gives the token as %04d
    if token is None or not value:
        return value
    suffix = text[token.end():]
    if "[" in suffix:
        return None
    if value.endswith(token.group(0) + suffix):   # evaluated without the frame
        return value
    number = fr.frame_path(token.group(0), nuke.frame())
    if not value.endswith(number + suffix):
        return None
    return value[:len(value) - len(number + suffix)] + token.group(0) + suffix


def _proxy_mode():
    try:
        knob = nuke.root().knob("proxy")
    except (NameError, KeyError, ValueError, AttributeError):
        return False
    return bool(knob is not None and knob.value())


def absolute(path):
    """A path as Nuke resolves a file knob's: ``~`` expanded, a relative path taken from the
    script's project directory (Project Settings, TCL evaluated) when one is set, else from
    Nuke's working folder. The engine runs in another process and needs it absolute."""
    path = os.path.expanduser(path)
    if not path or os.path.isabs(path):
        return path
    base = os.path.expanduser(_root_value("project_directory"))
    return os.path.normpath(os.path.join(base if base else os.getcwd(), path))


def read_colorspace(read):
    """The shot's colourspace name for a Read's files."""
    if read["raw"].value():
        return "auto"
    value = read["colorspace"].value()
    key = value.strip().lower()
    if key.startswith("default") or not key:
        # "default (sRGB)": the name Nuke resolved for these files: ours, or an OCIO name the
        # engine can resolve when it is handed the script's config (see ocio_config)
        inner = value.strip().partition("(")[2].rstrip(")").strip()
        if inner.lower() in _COLORSPACE_NAMES:
            return _COLORSPACE_NAMES[inner.lower()]
        return inner if inner and working_space() else "auto"
    return _COLORSPACE_NAMES.get(key, value)


def knob_path(knob):
    """A file knob's path with its TCL (``[getenv SHOW]``, ``[python {nuke.script_directory()}]``)
    evaluated. Nuke's ``File_Knob.value()`` is the text as stored, unevaluated; ``evaluate()``
    expands it (a knob without ``evaluate`` gives its value). Raises ValueError when the
    expression cannot be evaluated."""
    evaluate = getattr(knob, "evaluate", None)
    try:
        value = evaluate() if evaluate is not None else knob.value()
    except (RuntimeError, ValueError, TypeError, NameError, SyntaxError) as err:
        raise ValueError("%s: cannot evaluate %r: %s" % (knob.name(), knob.value(), err))
    return str(value or "").strip()


_ROOT_PATH_KNOBS = frozenset(("project_directory", "customOCIOConfigPath"))


def _root_value(name):
    """A root knob's value as text ("" when the knob is missing); the path knobs
    (:data:`_ROOT_PATH_KNOBS`) TCL-evaluated, "" when their expression fails."""
    try:
        knob = nuke.root().knob(name)
    except (NameError, KeyError, ValueError, AttributeError):
        return ""
    if knob is None:
        return ""
    if name in _ROOT_PATH_KNOBS:
        try:
            return knob_path(knob)
        except ValueError:
            return ""
    return str(knob.value() or "").strip()


def _ocio_managed():
    return _root_value("colorManagement") == "OCIO"


def nuke_config_dirs():
    """Folders where a Nuke installation keeps its built-in OCIO configs (Linux and Windows:
    ``<install>/plugins/OCIOConfigs/configs``; macOS: ``Nuke.app/Contents/Resources/...``)."""
    try:
        exe = nuke.env["ExecutablePath"]
    except (KeyError, TypeError, AttributeError):
        return []
    base = os.path.dirname(exe)
    return [os.path.join(base, "plugins", "OCIOConfigs", "configs"),
            os.path.join(os.path.dirname(base), "Resources", "OCIOConfigs", "configs")]


def builtin_config_file(name):
    """The config of one of Nuke's built-in OCIO configs (``nuke-default``, ``aces_1.2``...):
    its file in this installation; else, for the ACES CG/studio configs (``fn-nuke_cg-config-
    v1.0.0_aces-v1.3_ocio-v2.1``...), the ``ocio://`` URI of the OCIO built-in config they are
    made from (the engine refuses it clearly if its OCIO lacks it); else None."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    for folder in nuke_config_dirs():
        for candidate in (os.path.join(folder, name, "config.ocio"), os.path.join(folder, name + ".ocio"),
                          os.path.join(folder, name, name + ".ocio")):
            if os.path.isfile(candidate):
                return candidate
    stem = name[len("fn-nuke_"):] if name.startswith("fn-nuke_") else name
    if re.match(r"^(cg|studio)-config-v[0-9][A-Za-z0-9._-]*$", stem):
        return "ocio://" + stem
    return None


def ocio_config():
    """The OCIO config file of the script, for the engine to convert OCIO colourspace names
    through, or None when this machine cannot locate it: ``$OCIO`` when set (Nuke uses it over
    the project settings), else the project's custom config path, else the file of the Nuke
    built-in config the project names (``nuke-default`` under Nuke's own colour management)."""
    env = os.environ.get("OCIO", "").strip()
    if env:
        return env
    if not _ocio_managed():   # Nuke's own colour management: Read colourspaces are nuke-default's
        return builtin_config_file("nuke-default")
    name = _root_value("OCIO_config")
    if name == "custom":
        path = os.path.expanduser(_root_value("customOCIOConfigPath"))
        return path if path and os.path.isfile(path) else None
    return builtin_config_file(name)


BASIC_COLORSPACES = frozenset(_COLORSPACE_NAMES.values()) | {"auto"}   # the engine's own, not OCIO names


def shot_ocio_config(shot):
    """The config to write into ``shot`` (a shot dict): :func:`ocio_config` when one of its
    colourspaces is an OCIO name, else None (shots without OCIO names keep their version)."""
    names = [shot.get("colorspace"), shot.get("ref_colorspace"), shot.get("out_colorspace")] + \
        [r.get("colorspace") for r in shot.get("references", [])]
    if all(n is None or n in BASIC_COLORSPACES for n in names):
        return None
    return ocio_config()


def working_space():
    """The OCIO working space of the script when the engine can convert from it (OCIO colour
    management, a working space set, and the script's config located: :func:`ocio_config`),
    else None: precomps are then scene-linear Rec.709 values as far as the engine knows."""
    name = _root_value("workingSpaceLUT")
    if not _ocio_managed() or not name or not ocio_config():
        return None
    return name


def ocio_without_config():
    """The name of the script's OCIO config when it uses OCIO colour management but the config
    file cannot be located (the engine then takes precomps as linear Rec.709, which is right
    only for a Rec.709 working space), else None."""
    if not _ocio_managed() or ocio_config():
        return None
    return _root_value("OCIO_config") or "of the script"


def tree_signature(node, frames, files=True):
    """12 hex digits that change whenever the pixels ``node`` produces over ``frames`` may.

    A Read's files count by name and identity (size, mtime), not by folder, so the same tree
    seen where the storage is mounted elsewhere (a farm node, Deadline's path mapping) names
    the same precomp. ``files=False`` leaves out the identity of the Reads' files and keeps
    their paths as typed: the nodes, their knobs and connections only (cheap enough for an
    idle-time check)."""
    h = hashlib.sha1()
    ids = {}

    def visit(n):
        if n is None:
            return "-"
        key = id(n)
        if key in ids:
            return ids[key]
        ids[key] = "n%d" % len(ids)
        parts = [n.Class()]
        read_files = n.Class() == "Read" and files
        for name, knob in sorted(n.knobs().items()):
            if name in _UI_KNOBS or knob.Class() in _UI_KNOB_CLASSES:
                continue
            if read_files and name in _READ_PATH_KNOBS:   # the frames' identities follow
                parts.append("%s=%s" % (name, os.path.basename(read_file(n) if name == "file" else knob.value())))
                continue
            parts.append("%s=%s" % (name, knob.toScript()))
        if read_files:
            first, last = n["first"].value(), n["last"].value()
            for f in range(max(frames[0], first), min(frames[1], last) + 1):
                parts.append("%d:%s" % (f, file_identity(fr.frame_path(read_file(n), f))))
        if n.Class() == "Group":
            for child in n.nodes():
                if child.Class() == "Output":
                    parts.append("out=" + visit(child))
        if n.Class() == "Input":
            group = _parent_group(n)
            if group is not None:
                parts.append("in=" + visit(group.input(n["number"].value())))
        for i in range(n.inputs()):
            parts.append("i%d=%s" % (i, visit(n.input(i))))
        link = getattr(nuke, "LINKNODE_INPUTS", 0)   # Nuke 17.1+: a link node's pixels are another node's
        if link:
            for source in n.dependencies(link):
                parts.append("link=" + visit(source))
        h.update(("\n".join(parts) + "\n\n").encode("utf-8"))
        return ids[key]

    visit(node)
    h.update(("%d-%d" % (frames[0], frames[1])).encode("ascii"))
    return h.hexdigest()[:12]


def _parent_group(node):
    full = node.fullName()
    if "." not in full:
        return None
    return nuke.toNode("root." + full.rsplit(".", 1)[0])


_VIEW_TOKEN = re.compile(r"%[Vv]")


def _refuse_views(read, pattern, what):
    """A Read whose file names views (``%V``/``%v``: one file per view of a stereo script)
    holds another image per view; the engine colourises one sequence."""
    if _VIEW_TOKEN.search(pattern):
        raise SourceError("the Read on the %s input (%s) reads one file per view (%s): the node "
                          "colourises one view; put a OneView node before it (one Colorize node per "
                          "view, joined with JoinViews)" % (what, read.name(), _VIEW_TOKEN.search(pattern).group()))


class Source(object):
    """Files for one input: ``pattern`` (frame token for sequences), ``colorspace``,
    ``precomp`` (True when rendered from a tree), ``user_files`` (files whose identity
    defines the result: the Read's own frames)."""

    def __init__(self, pattern, colorspace, precomp, user_files=()):
        self.pattern = pattern
        self.colorspace = colorspace
        self.precomp = precomp
        self.user_files = list(user_files)


def sequence_source(group, index, frames, shot_root):
    """Source for a sequence input (plate or matte) over ``frames``; None when unconnected."""
    up = group.input(index)
    if up is None:
        return None
    read = plain_read(up)
    if read is not None:
        pattern = read_file(read)
        if not pattern:
            raise SourceError("the Read on the %s input (%s) has no file" % (INPUT_NAMES[index], read.name()))
        _refuse_views(read, pattern, INPUT_NAMES[index])
        files = [fr.frame_path(pattern, f) for f in range(frames[0], frames[1] + 1)]
        return Source(pattern, read_colorspace(read), False, files)
    sig = tree_signature(up, frames)
    # mattes precomputed before they kept every channel in float32 are not reused
    folder = os.path.join(shot_root, "precomp", "%s%s_%s" % (INPUT_NAMES[index], "-f32" if index == MATTE else "", sig))
    return Source(os.path.join(folder, "%s.####.exr" % INPUT_NAMES[index]), working_space() or "linear", True)


def missing_precomp_frames(source, frames):
    if source is None or not source.precomp:
        return []
    have = set(fr.existing_frames(source.pattern, frames[0], frames[1]))
    return [f for f in range(frames[0], frames[1] + 1) if f not in have]


def precomp_channels(index, inp):
    """The channels a precomp of input ``index`` holds: a matte every channel; the plate and
    the reference rgba, but rgb alone when the input has no alpha. A reference's alpha says
    which of its pixels carry colour (nuke_colorize.coverage): an alpha the stream does not
    have must not reach the file as a black one (which would say: no pixel carries colour)."""
    if index == MATTE:
        return "all"
    if index == REFERENCE and "rgba.alpha" not in inp.channels():
        return "rgb"
    return "rgba"


def render_precomp(group, index, pattern, frame_list):
    """Render input ``index`` of ``group`` at ``frame_list`` to ``pattern`` (EXR, zip): rgba in
    half float, a matte every channel in 32-bit float (Cryptomatte and one-channel-per-object
    layers are other channels than rgba, and half holds integer IDs exactly only up to 2048).

    Uses a temporary Write inside the group, fed by the group's Input node, deleted afterwards,
    with the script's proxy mode off while it renders (precomps are always full size).
    Must run on Nuke's main thread and not during another render.
    """
    if not frame_list:
        return
    with group:
        inp = None
        for n in group.nodes():
            if n.Class() == "Input" and n["number"].value() == index:
                inp = n
        if inp is None:
            raise SourceError("the Colorize group has no Input number %d" % index)
        write = nuke.nodes.Write()
        try:
            for name in _WRITE_SCRIPT_KNOBS:   # a studio's addOnCreate may have set them: not ours
                knob = write.knob(name)
                if knob is not None and knob.value():
                    knob.setValue("")
            write["file"].setValue(pattern)
            write["file_type"].setValue("exr")
            write["channels"].setValue(precomp_channels(index, inp))
            write["datatype"].setValue("32 bit float" if index == MATTE else "16 bit half")
            write["compression"].setValue("Zip (1 scanline)")
            write["metadata"].setValue("no metadata")
            write["raw"].setValue(True)
            write["create_directories"].setValue(True)
            write.setInput(0, inp)
            with _full_resolution():
                for a, b in fr.to_ranges(frame_list):
                    try:
                        nuke.execute(write, a, b, 1)
                    except RuntimeError as err:   # also what the user's Cancel on its progress bar raises
                        raise SourceError("rendering the %s input to %s stopped: %s"
                                          % (INPUT_NAMES[index], os.path.dirname(pattern), err))
        finally:
            nuke.delete(write)


# A Write's own render scripts (its Python tab). addOnCreate callbacks run for every node made,
# nuke.nodes.Write() included, and studios set these there (path checks, version-ups, publish).
_WRITE_SCRIPT_KNOBS = ("beforeRender", "beforeFrameRender", "afterFrameRender", "afterRender")


class _full_resolution(object):
    """Proxy mode off for the duration (restored after, whatever happens).

    A Write "executes all renders at the currently active scale", so in proxy mode a precomp
    would hold proxy-size frames, under a name (the tree's signature) that full-size renders
    reuse. Precomps are the shot's source pixels: always full size. The node's result is
    scaled for proxy mode by its own Read, like any other Read.
    """

    def __enter__(self):
        self.knob = nuke.root().knob("proxy")
        self.was_on = bool(self.knob is not None and self.knob.value())
        if self.was_on:
            self.knob.setValue(False)
        return self

    def __exit__(self, *exc):
        if self.was_on:
            self.knob.setValue(True)
        return False


def reference_images(group, rows, shot_root, write=False):
    """References table rows -> (list of (frame or None, image path, colourspace or None), user
    files).

    Rows taken from the reference input use its Read's file at that frame (in the Read's
    colourspace), or a one-frame precomp (rendered when ``write`` is true; in the working
    space). A colourspace of None leaves the shot's ``ref_colorspace`` (auto) to decide.
    """
    refs, user_files = [], []
    for row in rows:
        if row.source == "file":
            path = absolute(row.path)
            if not os.path.isfile(path):
                raise SourceError("references line %s: file not found: %s" % (row.line, path))
            refs.append((row.frame, path, None))
            user_files.append(path)
            continue
        up = group.input(REFERENCE)
        if up is None:
            raise SourceError("references line %s takes frame %d of the reference input, but nothing "
                              "is connected to the node's reference input" % (row.line, row.input_frame))
        g = int(row.input_frame)
        read = plain_read(up)
        if read is not None:
            if not read["first"].value() <= g <= read["last"].value():
                raise SourceError("references line %s: frame %d is outside the reference Read %s (%d-%d)"
                                  % (row.line, g, read.name(), read["first"].value(), read["last"].value()))
            pattern = read_file(read)
            _refuse_views(read, pattern, "reference")
            path = fr.frame_path(pattern, g)
            if not os.path.isfile(path):
                raise SourceError("references line %s: file not found: %s" % (row.line, path))
            cs = read_colorspace(read)
            refs.append((row.frame, path, None if cs == "auto" else cs))
            user_files.append(path)
            continue
        sig = tree_signature(up, (g, g))
        pattern = os.path.join(shot_root, "refs", sig, "reference.####.exr")
        path = fr.frame_path(pattern, g)
        if write and not os.path.isfile(path):
            render_precomp(group, REFERENCE, pattern, [g])
        refs.append((row.frame, path, working_space()))
    return refs, user_files

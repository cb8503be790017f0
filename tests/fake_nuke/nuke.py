"""A hand-written stand-in for Foundry's ``nuke`` Python module, for tests without Nuke.

It implements the part of the real API that nuke-colorize calls, with the real names,
signatures and behaviour (checked against the Nuke Python API reference), and it is strict
where a bare mock would not be:

* nodes have the real classes' knobs with real types; ``node['misspelt']`` raises NameError
  (as Nuke does), ``node.knob('misspelt')`` returns None, ``nuke.nodes.Read(fiel=...)`` raises;
* knobs check their values: ``Int_Knob.setValue("x")`` raises TypeError, an enumeration
  refuses items it does not have;
* callbacks run with ``nuke.thisNode()`` / ``nuke.thisKnob()`` set: a Group's ``knobChanged``
  and ``onCreate`` scripts, button (PyScript_Knob) scripts, ``addBeforeRender`` /
  ``addBeforeFrameRender`` / ``addAfterFrameRender`` / ``addAfterRender`` for Write nodes;
* ``nuke.execute(write, first, last)`` really renders: Read nodes read their files
  (OpenImageIO), Write nodes write EXR/PNG/TIFF/JPEG, Groups evaluate their Output, and
  ``Node.sample`` reads a pixel (Nuke coordinates: origin bottom-left);
* ``nuke.nodePaste(path)`` loads .nk / .gizmo text (through nuke_colorize.host.nkfile);
* ``nuke.env['gui']``, ``nuke.ProgressTask``, ``nuke.executeInMainThread`` (queued until the
  test pumps the "main thread" with ``nuke._process_main_thread()``), menus and toolbars,
  ``pluginAddPath`` (runs the folder's init.py like Nuke's start-up does).

Where real Nuke is less convenient than a mock, the fake follows Nuke (13-16):
* a node's knobChanged runs only while its control panel is open (``_user_set`` opens it,
  as a panel edit needs it; ``_connect`` wires an input from the node graph); ``_idle`` runs
  every node's ``updateUI`` script and ``addUpdateUI`` callbacks, as Nuke's idle update does;
* a string knob's ``value()`` is TCL-evaluated (the fake knows ``[getenv NAME]`` and
  ``[python {...}]``), ``getText()`` is the text as typed; a File_Knob's ``value()`` is *not*
  TCL-evaluated and reads a ``####`` sequence back as ``%04d`` (``evaluate()`` /
  ``getEvaluatedValue()`` / ``nuke.filename`` evaluate it); Root's ``project_directory`` is
  such a file knob;
* ``Node.dependencies()`` follows expression links unless given ``nuke.INPUTS`` etc.;
* ``nuke.execute`` in the GUI raises RuntimeError("Cancelled") when ``_state.cancel_execute``
  (the user's Cancel on its progress bar);
* ``scriptOpen`` runs onCreate scripts before the root is attached: ``nuke.root()`` raises
  ValueError then;
* onCreate (the knob and ``addOnCreate`` callbacks) runs for every node made: ``nuke.nodes.X()``,
  ``createNode``, ``nodePaste``, ``scriptOpen``;
* a Read's colorspace "default" reads back as the name it resolves to ("default (linear)" for
  EXR files, "default (sRGB)" for integer ones);
* ``nuke.filename`` answers a Read's proxy file in proxy mode when it has one;
* ``nuke.menu`` raises RuntimeError outside the GUI; ``nuke.toolbar("Nodes")`` is
  ``nuke.menu("Nodes")``; ``pluginAddPath`` moves a known path to the front and runs a
  folder's init.py only when called from an init.py.

Test helpers start with an underscore: ``_reset``, ``_user_set`` (a knob edit in the panel:
sets the value, then runs knobChanged), ``_connect``, ``_idle``, ``_press`` (click a button),
``_startup`` (Nuke's start-up sequence over a ~/.nuke folder), ``_process_main_thread``,
``_messages``.
"""
from __future__ import absolute_import

import builtins
import numbers
import os
import re
import sys
import threading
from collections import OrderedDict


class _Lazy(object):
    """Import on first use, so the fake loads in a bare Python (numpy and nuke_colorize are
    only needed for rendering and .nk files; a plug-in start-up test runs without them)."""

    def __init__(self, name, attr=None):
        self._name, self._attr = name, attr

    def _get(self):
        import importlib
        mod = importlib.import_module(self._name)
        return getattr(mod, self._attr) if self._attr else mod

    def __getattr__(self, item):
        return getattr(self._get(), item)

    def __call__(self, *args, **kwargs):
        return self._get()(*args, **kwargs)


np = _Lazy("numpy")
nkfile = _Lazy("nuke_colorize.host.nkfile")
frame_path = _Lazy("nuke_colorize.host.frames", "frame_path")

# ----------------------------------------------------------------------------- constants
NUKE_VERSION_MAJOR = 15
NUKE_VERSION_MINOR = 1
NUKE_VERSION_STRING = "15.1v1"
env = {"gui": False, "NukeVersionMajor": NUKE_VERSION_MAJOR, "NukeVersionMinor": NUKE_VERSION_MINOR,
       "NukeVersionString": NUKE_VERSION_STRING, "ExecutablePath": "/usr/local/Nuke15.1v1/Nuke15.1",
       "nc": False, "studio": False}

STARTLINE = 0x1000
ENDLINE = 0x2000
INVISIBLE = 0x400
HIDDEN = 0x40000
DISABLED = 0x80
NO_ANIMATION = 0x100
READ_ONLY = 0x10000000
_FLAG_NAMES = {"STARTLINE": STARTLINE, "ENDLINE": ENDLINE, "INVISIBLE": INVISIBLE, "HIDDEN": HIDDEN,
               "DISABLED": DISABLED, "NO_ANIMATION": NO_ANIMATION, "READ_ONLY": READ_ONLY}


# Node.dependencies() / dependent() filters. Nuke 13's default is 15 (EXPRESSIONS, LINKINPUTS
# "link knob inputs", INPUTS, HIDDEN_INPUTS); Nuke 17.1 adds LINKNODE_INPUTS ("link nodes",
# default 31), which this Nuke 15 fake does not have (a test can set it: see Node._link_source).
EXPRESSIONS = 1
INPUTS = 2
HIDDEN_INPUTS = 4
LINKINPUTS = 8


class CancelledError(RuntimeError):
    pass


# ----------------------------------------------------------------------------- state
class _State(object):
    def __init__(self):
        self.root = None
        self.context = []  # stack of groups (begin/end)
        self.this = []  # stack of (node, knob) for thisNode/thisKnob
        self.frame = 1
        self.callbacks = {}  # kind -> {nodeClass: [(call, args, kwargs)]}
        self.plugin_path = []
        self.in_init = 0  # depth of init.py files being run (pluginAddPath runs a path's init.py then)
        self.menus = {}
        self.main_queue = []
        self.main_lock = threading.Lock()
        self.messages = []
        self.progress = []
        self.cancel_tasks = False
        self.cancel_execute = False  # the user presses Cancel on nuke.execute's progress bar
        self.open_panels = set()  # ids of nodes whose control panel is open
        self.loading = False  # scriptOpen in progress: nuke.root() is not attached yet
        self.formats = {}
        self.executing = False
        self.knob_changed_always = False  # Nuke 17.1: knobChanged for programmatic changes too
        self.kc_depth = 0


_state = _State()
_messages = _state.messages


def _reset(gui=False, script_path=""):
    """Fresh session: empty root, no callbacks, no menus (what a new Nuke process has)."""
    global _state, _messages
    _state = _State()
    _messages = _state.messages
    env["gui"] = bool(gui)
    for f in (Format(1920, 1080, "HD_1080"), Format(2048, 1556, "2K_Super_35(full-ap)"),
              Format(640, 480, "PC_Video"), Format(256, 256, "square_256")):
        _state.formats[f.name()] = f
    _state.root = Root()
    if script_path:
        _state.root["name"].setValue(script_path)
    return _state.root


# ----------------------------------------------------------------------------- formats
class Format(object):
    def __init__(self, width, height, name="", pixel_aspect=1.0):
        self._w, self._h, self._name, self._pa = int(width), int(height), name, float(pixel_aspect)

    def width(self):
        return self._w

    def height(self):
        return self._h

    def pixelAspect(self):
        return self._pa

    def name(self):
        return self._name

    def x(self):
        return 0

    def y(self):
        return 0

    def r(self):
        return self._w

    def t(self):
        return self._h

    def toScript(self):
        return "%d %d 0 0 %d %d %g %s" % (self._w, self._h, self._w, self._h, self._pa, self._name)


def formats():
    return list(_state.formats.values())


def addFormat(s):
    parts = s.split()
    f = Format(int(parts[0]), int(parts[1]), parts[-1] if len(parts) > 2 else "")
    _state.formats[f.name()] = f
    return f


# ----------------------------------------------------------------------------- knobs
class Knob(object):
    """Base knob. Subclasses set ``_default`` and implement ``_check(value)``."""

    _default = None

    def __init__(self, name, label=None, *args, **kwargs):
        if not isinstance(name, str):
            raise TypeError("knob name must be a string")
        self._name = name
        self._label = label if label is not None else name
        self._value = self._default
        self._node = None
        self._flags = 0
        self._tooltip = ""
        self._expression = None
        self._enabled = True
        self._visible = True

    def Class(self):
        return type(self).__name__

    def name(self):
        return self._name

    def label(self):
        return self._label

    def setLabel(self, label):
        self._label = str(label)

    def tooltip(self):
        return self._tooltip

    def setTooltip(self, text):
        self._tooltip = str(text)

    def node(self):
        return self._node

    def fullyQualifiedName(self, channel=-1):
        return "%s.%s" % (self._node.fullName() if self._node else "", self._name)

    def setFlag(self, f):
        self._flags |= int(f)

    def clearFlag(self, f):
        self._flags &= ~int(f)

    def getFlag(self, f):
        return bool(self._flags & int(f))

    def setVisible(self, b):
        self._visible = bool(b)

    def visible(self):
        return self._visible and not self._flags & INVISIBLE

    def setEnabled(self, b):
        self._enabled = bool(b)

    def enabled(self):
        return self._enabled

    def _check(self, value):
        return value

    def setValue(self, value, *args):
        self._value = self._check(value)
        self._expression = None
        _changed_by_code(self)
        return True

    def value(self, *args):
        if self._expression is not None:
            return self._check(_eval_expression(self._expression, self))
        return self._value

    def getValue(self, *args):
        return self.value()

    def setExpression(self, expression, channel=-1, view=None):
        if not isinstance(expression, str):
            raise TypeError("expression must be a string")
        self._expression = expression
        return True

    def hasExpression(self, index=-1):
        return self._expression is not None

    def isAnimated(self, channel=-1, view=None):
        return False

    def notDefault(self):
        return self._value != self._default

    def toScript(self, quote=False, context=None):
        if self._expression is not None:
            return "{{%s}}" % self._expression
        v = self._value
        if isinstance(v, bool):
            return "true" if v else "false"
        return "" if v is None else str(v)

    def fromScript(self, text):
        self.setValue(self._from_text(text))
        return True

    def _from_text(self, text):
        return text

    def __repr__(self):
        return "<%s %s>" % (self.Class(), self._name)


def _tcl(text):
    """TCL substitution as a string knob's value() does it; the fake knows ``[getenv NAME]``
    and ``[python {EXPRESSION}]`` (what Project Settings' "Script Directory" button writes:
    ``[python {nuke.script_directory()}]``)."""
    text = re.sub(r"\[getenv\s+(\w+)\]", lambda m: os.environ.get(m.group(1), ""), text)
    return re.sub(r"\[python\s+\{(.*?)\}\]",
                  lambda m: str(eval(m.group(1), {"nuke": sys.modules[__name__], "os": os})), text)


class String_Knob(Knob):
    """value() is the *evaluated* text (TCL ``[...]`` substituted, as in Nuke); getText() and
    toScript() the text as typed."""
    _default = ""

    def _check(self, value):
        if not isinstance(value, str):
            raise TypeError("%s: expected a string, got %s" % (self._name, type(value).__name__))
        return value

    def value(self, *args):
        v = Knob.value(self)
        return _tcl(v) if isinstance(v, str) else v

    def getText(self, *args):
        return self._value

    def setText(self, value, *args):
        return self.setValue(value)

    def getEvaluatedValue(self, *args):
        return self.value()


class EvalString_Knob(String_Knob):
    def evaluate(self, *args):
        return self.value()


def _hashes_to_printf(text):
    """``####`` -> ``%04d`` (a File_Knob's value() is in this "technical notation")."""
    return re.sub(r"#+", lambda m: "%%0%dd" % len(m.group(0)) if len(m.group(0)) > 1 else "%d", text)


class File_Knob(EvalString_Knob):
    """As Nuke's File_Knob (Python API reference, nuke.File_Knob): ``value()`` / ``getValue()``
    are the text as stored, *not* TCL-evaluated, a sequence's ``####`` normalised to ``%04d``;
    ``getEvaluatedValue()`` also evaluates TCL; ``evaluate()`` evaluates TCL and puts the
    current frame number in place of the frame token."""

    def value(self, *args):
        v = Knob.value(self)
        return _hashes_to_printf(v) if isinstance(v, str) else v

    def getValue(self, *args):
        return self.value()

    def getEvaluatedValue(self, *args):
        v = Knob.value(self)
        return _hashes_to_printf(_tcl(v)) if isinstance(v, str) else v

    def evaluate(self, *args):
        v = self.getEvaluatedValue()
        return frame_path(v, _state.frame) if v else v

    def fromUserText(self, text):
        return self.setValue(text)


class Multiline_Eval_String_Knob(EvalString_Knob):
    pass


class Text_Knob(Knob):
    _default = ""

    def __init__(self, name, label=None, text="", *args):
        Knob.__init__(self, name, label)
        self._value = self._check(text)

    def _check(self, value):
        if not isinstance(value, str):
            raise TypeError("%s: expected a string" % self._name)
        return value


class Tab_Knob(Knob):
    def __init__(self, name, label=None, type=0):
        Knob.__init__(self, name, label)

    def setValue(self, value, *args):
        raise TypeError("a Tab_Knob has no value")


class Script_Knob(Knob):
    _default = ""

    def __init__(self, name, label=None, command=""):
        Knob.__init__(self, name, label)
        self._value = command or ""

    def _check(self, value):
        if not isinstance(value, str):
            raise TypeError("%s: a script must be a string" % self._name)
        return value

    def command(self):
        return self._value

    def setCommand(self, cmd):
        self._value = self._check(cmd)

    def execute(self):
        _run_python(self._value, self._node, self, "%s.%s" % (self._node.fullName() if self._node else "?",
                                                                self._name))


class PyScript_Knob(Script_Knob):
    pass


class Int_Knob(Knob):
    _default = 0

    def _check(self, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError("%s: expected a number, got %r" % (self._name, value))
        return int(value)

    def _from_text(self, text):
        t = text.strip()
        return int(t, 16) if t.lower().startswith("0x") else int(float(t))


class Array_Knob(Knob):
    _default = 0.0

    def _check(self, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError("%s: expected a number, got %r" % (self._name, value))
        return float(value)

    def _from_text(self, text):
        return float(text)


class Double_Knob(Array_Knob):
    pass


class WH_Knob(Array_Knob):
    pass


class Color_Knob(Array_Knob):
    """Colour knob: one number sets every channel; ``value(i)`` gives channel i."""

    _size = 3

    def __init__(self, name, label=None):
        Array_Knob.__init__(self, name, label)
        self._value = [0.0] * self._size

    def _check(self, value):
        if isinstance(value, (list, tuple)):
            if len(value) != self._size:
                raise ValueError("%s: expected %d values" % (self._name, self._size))
            return [Array_Knob._check(self, v) for v in value]
        v = Array_Knob._check(self, value)
        return [v] * self._size

    def setValue(self, value, index=None, *args):
        if index is None:
            return Knob.setValue(self, value)
        vals = list(self._value)
        vals[int(index)] = Array_Knob._check(self, value)
        self._value = vals
        _changed_by_code(self)
        return True

    def value(self, index=None, *args):
        vals = Knob.value(self)
        if not isinstance(vals, list):
            vals = [float(vals)] * self._size
        if index is not None:
            return vals[int(index)]
        return vals[0] if len(set(vals)) == 1 else list(vals)

    def _from_text(self, text):
        parts = text.strip("{}").split()
        return [float(p) for p in parts] if len(parts) > 1 else float(parts[0])


class AColor_Knob(Color_Knob):
    _size = 4


class Boolean_Knob(Knob):
    _default = False

    def _check(self, value):
        if not isinstance(value, (bool, numbers.Integral)):
            raise TypeError("%s: expected a bool, got %r" % (self._name, value))
        return bool(value)

    def _from_text(self, text):
        return text.strip().lower() in ("true", "1")


class Disable_Knob(Boolean_Knob):
    pass


class Enumeration_Knob(Knob):
    """``value()`` is the item name, ``getValue()`` its index (a float, as in Nuke)."""

    def __init__(self, name, label=None, items=()):
        Knob.__init__(self, name, label)
        self._items = [str(i) for i in items]
        self._value = 0

    def values(self):
        return list(self._items)

    def setValues(self, items):
        self._items = [str(i) for i in items]
        self._value = min(self._value, max(len(self._items) - 1, 0))

    def numValues(self):
        return len(self._items)

    def enumName(self, n):
        return self._items[int(n)]

    def _check(self, value):
        if isinstance(value, str):
            if value not in self._items:
                raise ValueError("%s: %r is not one of %s" % (self._name, value, self._items))
            return self._items.index(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError("%s: expected an item name or index" % self._name)
        if not 0 <= int(value) < len(self._items):
            raise ValueError("%s: index %s out of range" % (self._name, value))
        return int(value)

    def value(self, *args):
        if self._expression is not None:
            idx = int(_eval_expression(self._expression, self))
            return self._items[max(0, min(idx, len(self._items) - 1))]
        return self._items[self._value] if self._items else ""

    def getValue(self, *args):
        if self._expression is not None:
            return float(_eval_expression(self._expression, self))
        return float(self._value)

    def toScript(self, quote=False, context=None):
        v = self.value()
        return '"%s"' % v if " " in v else v


class _ReadColorspace_Knob(Enumeration_Knob):
    """A Read's colorspace. Its "default" item reads back with the name it resolves to for the
    node's files, as in Nuke, where pipeline checks compare ``node['colorspace'].value() ==
    'default (linear)'``: float files the root's floatLut (linear), DPX/Cineon its logLut
    (Cineon), other integer files int8Lut/int16Lut (sRGB). Setting "default (X)" sets "default"."""

    def _check(self, value):
        if isinstance(value, str) and value.startswith("default ("):
            value = "default"
        return Enumeration_Knob._check(self, value)

    def value(self, *args):
        v = Enumeration_Knob.value(self)
        if v != "default" or self._node is None:
            return v
        path = self._node["file"].getEvaluatedValue() if self._node.knob("file") is not None else ""
        ext = os.path.splitext(path or "")[1].lower().lstrip(".")
        name = "linear" if ext in ("exr", "hdr", "sxr") else "Cineon" if ext in ("dpx", "cin") else "sRGB"
        return "default (%s)" % name


def _read_colorspace(name):
    return _ReadColorspace_Knob(name, name, _COLORSPACES)


class ChannelMask_Knob(Knob):
    """Channels knob: a layer name ("rgba", "rgb", "alpha", "all", "none", any layer)."""

    _default = "rgba"

    def _check(self, value):
        if not isinstance(value, str) or not value:
            raise TypeError("%s: expected a channel set name" % self._name)
        return value.strip("{}").strip() or "none"


class Format_Knob(Knob):
    def __init__(self, name, label=None):
        Knob.__init__(self, name, label)
        self._value = None

    def _check(self, value):
        if isinstance(value, Format):
            return value
        if isinstance(value, str):
            if value in _state.formats:
                return _state.formats[value]
            parts = value.split()
            if len(parts) >= 2 and parts[0].isdigit():
                return Format(int(parts[0]), int(parts[1]), parts[-1] if len(parts) > 6 else "")
        raise ValueError("%s: unknown format %r" % (self._name, value))

    def value(self, *args):
        return self._value if self._value is not None else root()["format"]._value

    def toScript(self, quote=False, context=None):
        return '"%s"' % self.value().toScript()


class Link_Knob(Knob):
    def __init__(self, name, label=None):
        Knob.__init__(self, name, label)
        self._link = ""

    def setLink(self, s):
        self._link = s

    def getLink(self):
        return self._link


_USER_KNOB_CLASSES = {
    1: String_Knob, 2: File_Knob, 3: Int_Knob, 4: Enumeration_Knob, 6: Boolean_Knob,
    7: Double_Knob, 14: WH_Knob, 17: Format_Knob, 18: Color_Knob, 19: AColor_Knob, 20: Tab_Knob,
    22: PyScript_Knob, 26: Text_Knob, 41: Link_Knob, 43: Multiline_Eval_String_Knob,
}

# ----------------------------------------------------------------------------- node classes
_PYTHON = String_Knob
_COMMON = (("name", String_Knob), ("xpos", Int_Knob), ("ypos", Int_Knob), ("selected", Boolean_Knob),
           ("label", Multiline_Eval_String_Knob), ("note_font", String_Knob),
           ("note_font_size", Int_Knob), ("note_font_color", Int_Knob), ("tile_color", Int_Knob),
           ("gl_color", Int_Knob), ("hide_input", Boolean_Knob), ("cached", Boolean_Knob),
           ("disable", Disable_Knob), ("dope_sheet", Boolean_Knob), ("bookmark", Boolean_Knob),
           ("postage_stamp", Boolean_Knob), ("help", String_Knob), ("onCreate", _PYTHON),
           ("onDestroy", _PYTHON), ("knobChanged", _PYTHON), ("updateUI", _PYTHON),
           ("autolabel", _PYTHON), ("icon", File_Knob), ("indicators", Int_Knob),
           ("lifetimeStart", Int_Knob), ("lifetimeEnd", Int_Knob), ("useLifetime", Boolean_Knob),
           ("panelDropped", Boolean_Knob))

_COLORSPACES = ("default", "linear", "sRGB", "rec709", "Cineon", "Gamma1.8", "Gamma2.2", "Gamma2.4")
_EXR_COMPRESSION = ("none", "Zip (1 scanline)", "Zip (16 scanlines)", "PIZ Wavelet (32 scanlines)",
                    "RLE", "B44", "B44A", "DWAA", "DWAB")
_METADATA = ("no metadata", "default metadata", "default metadata and exr/*",
             "all metadata except input/*", "all metadata")


def _enum(items, default=None):
    def make(name):
        k = Enumeration_Knob(name, name, items)
        if default is not None:
            k.setValue(default)
        return k
    return make


def _bool(default):
    def make(name):
        k = Boolean_Knob(name)
        k._value = k._default = bool(default)
        return k
    return make


def _int(default):
    def make(name):
        k = Int_Knob(name)
        k._value = k._default = int(default)
        return k
    return make


_CLASS_KNOBS = {
    "Root": (("first_frame", _int(1)), ("last_frame", _int(100)), ("fps", Double_Knob),
             ("format", Format_Knob), ("proxy_type", _enum(("scale", "format"))),
             ("proxy_format", Format_Knob), ("colorManagement", _enum(("Nuke", "OCIO"))),
             ("OCIO_config", String_Knob), ("customOCIOConfigPath", File_Knob),
             ("workingSpaceLUT", String_Knob), ("views", String_Knob),
             ("frame", Int_Knob), ("lock_range", Boolean_Knob), ("project_directory", File_Knob),
             ("proxy", Boolean_Knob), ("proxy_scale", Double_Knob)),
    "Read": (("file", File_Knob), ("proxy", File_Knob), ("format", Format_Knob),
             ("proxy_format", Format_Knob), ("first", _int(1)), ("last", _int(1)),
             ("origfirst", _int(1)), ("origlast", _int(1)), ("origset", Boolean_Knob),
             ("before", _enum(("hold", "loop", "bounce", "black"))),
             ("after", _enum(("hold", "loop", "bounce", "black"))),
             ("frame_mode", _enum(("expression", "start at", "offset"))), ("frame", String_Knob),
             ("on_error", _enum(("error", "black", "checkerboard", "nearest frame"))),
             ("reload", PyScript_Knob), ("colorspace", _read_colorspace), ("raw", Boolean_Knob),
             ("premultiplied", Boolean_Knob), ("auto_alpha", Boolean_Knob), ("version", Int_Knob),
             ("file_type", String_Knob), ("checkHashOnRead", Boolean_Knob),
             ("localizationPolicy", _enum(("fromAutoLocalizePath", "on", "onDemand", "off"))),
             ("ocioColorspace", String_Knob)),
    "Write": (("file", File_Knob), ("proxy", File_Knob),
              ("file_type", _enum((" ", "exr", "png", "jpeg", "tiff", "dpx"))),
              ("channels", ChannelMask_Knob), ("datatype", _enum(("16 bit half", "32 bit float"))),
              ("compression", _enum(_EXR_COMPRESSION, "Zip (1 scanline)")),
              ("metadata", _enum(_METADATA, "default metadata")), ("first_part", String_Knob),
              ("colorspace", _enum(_COLORSPACES)), ("raw", Boolean_Knob), ("views", String_Knob),
              ("create_directories", Boolean_Knob), ("use_limit", Boolean_Knob),
              ("first", _int(1)), ("last", _int(1)), ("render_order", _int(1)),
              ("beforeRender", _PYTHON), ("afterRender", _PYTHON), ("beforeFrameRender", _PYTHON),
              ("afterFrameRender", _PYTHON), ("version", Int_Knob), ("autocrop", Boolean_Knob),
              ("premultiplied", Boolean_Knob), ("checkHashOnRead", Boolean_Knob)),
    "Group": (),
    "Input": (("number", Int_Knob),),
    "Output": (),
    "Dot": (),
    "NoOp": (),
    "Remove": (("operation", _enum(("remove", "keep"))), ("channels", ChannelMask_Knob),
               ("channels2", ChannelMask_Knob), ("channels3", ChannelMask_Knob),
               ("channels4", ChannelMask_Knob)),
    "Switch": (("which", Double_Knob),),
    "Constant": (("color", AColor_Knob), ("format", Format_Knob), ("channels", ChannelMask_Knob),
                 ("first", _int(1)), ("last", _int(1))),
    "Grade": (("channels", ChannelMask_Knob), ("blackpoint", Color_Knob), ("whitepoint", Color_Knob),
              ("black", Color_Knob), ("white", Color_Knob), ("multiply", Color_Knob),
              ("add", Color_Knob), ("gamma", Color_Knob), ("reverse", Boolean_Knob),
              ("black_clamp", _bool(True)), ("white_clamp", Boolean_Knob), ("mix", Double_Knob)),
    "Blur": (("channels", ChannelMask_Knob), ("size", Double_Knob), ("filter", _enum(("box", "triangle",
                                                                                      "quadratic", "gaussian"))),
             ("quality", _int(15)), ("crop", _bool(True)), ("mix", Double_Knob)),
    "Viewer": (("frame", Int_Knob), ("frame_range", String_Knob), ("input_process", Boolean_Knob),
               ("viewerProcess", String_Knob)),
}
_DEFAULT_MAX_INPUTS = {"Root": 0, "Read": 0, "Constant": 0, "Input": 0, "Switch": 1000, "Group": 0}
_INIT_DEFAULTS = {  # knob values a freshly created node has, where not the type's default
    "Grade": {"white": 1.0, "multiply": 1.0, "gamma": 1.0, "whitepoint": 1.0, "mix": 1.0},
    "Blur": {"mix": 1.0},
    "Root": {"fps": 24.0, "proxy_scale": 0.5},
}


def _make_knob(name, factory):
    return factory(name)


class Node(object):
    """A node of a built-in class. Knobs by name with real types; inputs by index."""

    def __init__(self, cls, group=None, create_in=None):
        if cls not in _CLASS_KNOBS:
            raise RuntimeError("%s: Unknown command" % cls)
        self._class = cls
        self._knobs = OrderedDict()
        self._inputs = {}
        self._group = None
        self._max_inputs = _DEFAULT_MAX_INPUTS.get(cls, 1)
        for name, factory in _COMMON + tuple(_CLASS_KNOBS[cls]):
            self._add(_make_knob(name, factory))
        for name, value in _INIT_DEFAULTS.get(cls, {}).items():
            self._knobs[name].setValue(value)
            self._knobs[name]._default = self._knobs[name]._value
        if cls == "Write":
            self._knobs["channels"].setValue("rgb")
        if create_in is not False:
            parent = create_in if create_in is not None else _current_group()
            if parent is not None:
                parent._adopt(self)

    def _add(self, knob):
        knob._node = self
        self._knobs[knob.name()] = knob

    # --- identity
    def Class(self):
        return self._class

    def name(self):
        return self._knobs["name"].value()

    def setName(self, name, uncollide=True, updateExpressions=False):
        if not isinstance(name, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            raise ValueError("invalid node name %r" % (name,))
        group = self._group
        if group is not None:
            taken = set(n.name() for n in group._children if n is not self)
            if name in taken:
                if not uncollide:
                    raise ValueError("name %s is already used" % name)
                base = re.sub(r"\d+$", "", name)
                i = 1
                while "%s%d" % (base, i) in taken:
                    i += 1
                name = "%s%d" % (base, i)
        self._knobs["name"].setValue(name)

    def fullName(self):
        parts = []
        n = self
        while n is not None and not isinstance(n, Root):
            parts.append(n.name())
            n = n._group
        return ".".join(reversed(parts))

    def __repr__(self):
        return "<%s %s>" % (self._class, self.fullName())

    # --- knobs
    def knob(self, name):
        if isinstance(name, int):
            return list(self._knobs.values())[name]
        return self._knobs.get(name)

    def __getitem__(self, name):
        k = self._knobs.get(name)
        if k is None:
            raise NameError("knob %s does not exist" % name)
        return k

    def knobs(self):
        return dict(self._knobs)

    def allKnobs(self):
        return list(self._knobs.values())

    def numKnobs(self):
        return len(self._knobs)

    def addKnob(self, knob):
        if not isinstance(knob, Knob):
            raise TypeError("addKnob needs a Knob")
        if knob.name() in self._knobs:
            raise ValueError("knob %s already exists" % knob.name())
        self._add(knob)

    def removeKnob(self, knob):
        if self._knobs.get(knob.name()) is not knob:
            raise ValueError("knob %s is not on %s" % (knob.name(), self.name()))
        del self._knobs[knob.name()]

    def writeKnobs(self, flags=0):
        return "\n".join("%s %s" % (k.name(), k.toScript()) for k in self._knobs.values()
                         if not isinstance(k, (Tab_Knob, Script_Knob)) and k.notDefault())

    # --- graph
    def input(self, i):
        return self._inputs.get(int(i))

    def inputs(self):
        return (max(self._inputs) + 1) if self._inputs else 0

    def maxInputs(self):
        return self._max_inputs

    def minInputs(self):
        return 0

    def setInput(self, i, node):
        i = int(i)
        if i < 0 or i >= max(self.maxInputs(), 1) and self._class != "Group":
            return False
        if node is None:
            self._inputs.pop(i, None)
        else:
            if not isinstance(node, Node):
                raise TypeError("setInput needs a Node or None")
            self._inputs[i] = node
        return True

    _link_source = None   # the node a Nuke 17.1 link node stands for (LINKNODE_INPUTS)

    def dependencies(self, what=EXPRESSIONS | LINKINPUTS | INPUTS | HIDDEN_INPUTS):
        """Connected inputs (INPUTS), and with EXPRESSIONS (part of the default, as in Nuke)
        the nodes this node's knob expressions name; with LINKNODE_INPUTS (when the module has
        it, as Nuke 17.1 does) the node a link node stands for."""
        out = [n for _, n in sorted(self._inputs.items()) if n is not None] if what & INPUTS else []
        link_bit = globals().get("LINKNODE_INPUTS", 0)
        if link_bit and what & link_bit and self._link_source is not None:
            out.append(self._link_source)
        if what & EXPRESSIONS and self._group is not None:
            names = set()
            for k in self._knobs.values():
                if k._expression:
                    names.update(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\.[A-Za-z_]", k._expression))
            for n in self._group._children:
                if n.name() in names and n is not self and n not in out:
                    out.append(n)
        return out

    def dependent(self, what=None, forceEvaluate=True):
        group = self._group
        if group is None:
            return []
        return [n for n in group._children if self in n._inputs.values()]

    def setSelected(self, selected):
        self._knobs["selected"].setValue(bool(selected))

    def isSelected(self):
        return self._knobs["selected"].value()

    def setXYpos(self, x, y):
        self._knobs["xpos"].setValue(int(x))
        self._knobs["ypos"].setValue(int(y))

    def xpos(self):
        return self._knobs["xpos"].value()

    def ypos(self):
        return self._knobs["ypos"].value()

    def showControlPanel(self, forceFloat=False):
        if id(self) not in _state.open_panels:
            _state.open_panels.add(id(self))
            _knob_changed(self, self.knob("showPanel") or Knob("showPanel"))

    def hideControlPanel(self):
        _state.open_panels.discard(id(self))

    def shown(self):
        return id(self) in _state.open_panels

    def error(self):
        return False

    def hasError(self):
        try:
            self._image(frame())
        except Exception:  # noqa: BLE001
            return True
        return False

    # --- time and format
    def firstFrame(self):
        return self._range()[0]

    def lastFrame(self):
        return self._range()[1]

    def _upstream(self):
        """The node whose time range and format this one passes on (None: the root's)."""
        if self._class == "Input":
            group = self._group
            return group.input(self["number"].value()) if group is not None else None
        return self.input(0)

    def _range(self):
        if self._class == "Read":
            shift = _read_offset(self)
            return self["first"].value() + shift, self["last"].value() + shift
        if self._class == "Constant":
            return self["first"].value(), self["last"].value()
        up = self._upstream()
        if up is not None:
            return up._range()
        r = root()
        return r["first_frame"].value(), r["last_frame"].value()

    def format(self):
        if self._class in ("Read", "Constant"):
            k = self["format"]
            if k._value is not None:
                return k._value
            if self._class == "Read" and self["file"].getEvaluatedValue():
                size = _file_size(frame_path(self["file"].getEvaluatedValue(), self.firstFrame()))
                if size is not None:
                    return Format(size[0], size[1], "")
            return root().format()
        up = self._upstream()
        if up is not None:
            return up.format()
        return root().format()

    def width(self):
        return self.format().width()

    def height(self):
        return self.format().height()

    def channels(self):
        return list(self._image(frame()).keys())

    def sample(self, channel, x, y, dx=1.0, dy=1.0, frame=None):
        """Pixel value of ``channel`` at (x, y) in Nuke's coordinates (origin bottom-left)."""
        f = _state.frame if frame is None else int(frame)
        img = self._image(f)
        if channel not in img:
            return 0.0
        plane = img[channel]
        h, w = plane.shape
        col = int(np.floor(x))
        row = h - 1 - int(np.floor(y))
        if not (0 <= col < w and 0 <= row < h):
            return 0.0
        return float(plane[row, col])

    def metadata(self, key=None, time=None, view=None):
        md = {"input/width": self.width(), "input/height": self.height()}
        return md.get(key) if key else md

    # --- pixels (fake engine): {channel name: (H, W) float32}, row 0 at the top
    def _image(self, f):
        if self._knobs["disable"].value() and self.input(0) is not None:
            return self.input(0)._image(f)
        fn = getattr(self, "_image_" + self._class, None)
        if fn is None:
            raise RuntimeError("%s: the fake nuke cannot render %s nodes" % (self.name(), self._class))
        return fn(f)

    def _need_input(self, i, f):
        up = self.input(i)
        if up is None:
            fmt = self.format()
            return _black(fmt.width(), fmt.height())
        return up._image(f)

    def _image_Dot(self, f):
        return self._need_input(0, f)

    _image_NoOp = _image_Dot
    _image_Output = _image_Dot
    _image_Write = _image_Dot
    _image_Viewer = _image_Dot

    def _image_Remove(self, f):
        img = self._need_input(0, f)
        chosen = set()
        for k in ("channels", "channels2", "channels3", "channels4"):
            chosen |= set(_channel_set(self[k].value(), img))
        keep = self["operation"].value() == "keep"
        return OrderedDict((c, p) for c, p in img.items() if (c in chosen) == keep)

    def _image_Switch(self, f):
        n = self.inputs()
        if n == 0:
            return _black(self.width(), self.height())
        which = int(max(0, min(round(self["which"].value()), n - 1)))
        return self._need_input(which, f)

    def _image_Constant(self, f):
        fmt = self["format"].value()
        color = self["color"].value(0), self["color"].value(1), self["color"].value(2), self["color"].value(3)
        out = OrderedDict()
        for name, v in zip(("rgba.red", "rgba.green", "rgba.blue", "rgba.alpha"), color):
            out[name] = np.full((fmt.height(), fmt.width()), v, np.float32)
        return out

    def _image_Grade(self, f):
        img = self._need_input(0, f)
        out = OrderedDict(img)
        for i, c in enumerate(_channel_set(self["channels"].value(), img)):
            if c.startswith("rgba.") and c != "rgba.alpha":
                idx = ("rgba.red", "rgba.green", "rgba.blue").index(c)
                gain = self["white"].value(idx) * self["multiply"].value(idx)
                offset = self["add"].value(idx)
                v = img[c] * gain + offset
                if self["black_clamp"].value():
                    v = np.maximum(v, 0)
                out[c] = v.astype(np.float32)
        return out

    def _image_Blur(self, f):
        import cv2
        img = self._need_input(0, f)
        size = self["size"].value()
        if size <= 0:
            return img
        k = int(round(size)) | 1
        out = OrderedDict(img)
        for c in _channel_set(self["channels"].value(), img):
            out[c] = cv2.GaussianBlur(img[c], (k, k), size / 3.0)
        return out

    def _image_Read(self, f):
        return _at_active_scale(_read_image(self, f))

    def _image_Input(self, f):
        group = self._group
        up = group.input(self["number"].value()) if group is not None else None
        if up is None:
            fmt = root().format()
            return _black(fmt.width(), fmt.height())
        return up._image(f)


def _proxy_scale():
    """The scale images are processed at: 1, or the root's proxy_scale while proxy mode is on
    ("all images and all x/y positions are scaled by this factor"; only proxy_type scale)."""
    r = _state.root
    if r is None or not r["proxy"].value():
        return 1.0
    return float(r["proxy_scale"].value())


def _at_active_scale(img):
    """A full-size image as Nuke's proxy mode hands it on (Reads scale what they read)."""
    scale = _proxy_scale()
    if scale == 1.0 or not img:
        return img
    import cv2
    h, w = next(iter(img.values())).shape
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    return OrderedDict((c, cv2.resize(p, size, interpolation=cv2.INTER_AREA)) for c, p in img.items())


def _black(w, h):
    return OrderedDict((c, np.zeros((h, w), np.float32))
                       for c in ("rgba.red", "rgba.green", "rgba.blue", "rgba.alpha"))


def _channel_set(spec, img):
    spec = spec.strip()
    if spec == "all":
        return list(img.keys())
    if spec == "none":
        return []
    if spec == "rgb":
        return ["rgba.red", "rgba.green", "rgba.blue"]
    if spec == "alpha":
        return ["rgba.alpha"]
    if "." in spec:
        return [spec]
    return [c for c in img if c.split(".")[0] == spec]


def _read_range(node):
    return node["first"].value(), node["last"].value()


def _file_size(path):
    """(width, height) from an image file's header, or None."""
    import OpenImageIO as oiio
    inp = oiio.ImageInput.open(path) if path and os.path.isfile(path) else None
    if inp is None:
        return None
    try:
        spec = inp.spec()
        return spec.width, spec.height
    finally:
        inp.close()


def _read_offset(node):
    """Frames a Read's output is shifted by from its files' (``frame_mode`` "offset" by the
    ``frame`` knob, "start at" that frame; "expression" is not modelled: 0)."""
    text = node["frame"].value().strip()
    if not text:
        return 0
    mode = node["frame_mode"].value()
    if mode == "offset":
        return int(text)
    if mode == "start at":
        return int(text) - node["first"].value()
    return 0


def _read_file_frame(node, f):
    """The file frame a Read shows at frame ``f`` (its offset taken off): inside first-last that
    frame, outside as its ``before`` / ``after`` knob says (hold, loop, bounce); None for black."""
    f = f - _read_offset(node)
    first, last = _read_range(node)
    if first <= f <= last:
        return f
    mode = node["before" if f < first else "after"].value()
    n = last - first + 1
    if mode == "black":
        return None
    if mode == "loop":
        return first + (f - first) % n
    if mode == "bounce" and n > 1:
        period = 2 * (n - 1)
        k = (f - first) % period
        return first + (k if k < n else period - k)
    return first if f < first else last


def _read_image(node, f):
    import OpenImageIO as oiio
    g = _read_file_frame(node, f)
    if g is None:
        fmt = node.format()
        return _black(fmt.width(), fmt.height())
    path = frame_path(node["file"].getEvaluatedValue(), g)
    inp = oiio.ImageInput.open(path) if path and os.path.isfile(path) else None
    if inp is None:
        if node["on_error"].value() == "black":
            fmt = node.format()
            return _black(fmt.width(), fmt.height())
        raise RuntimeError("%s: Read error: %s: %s" % (node.fullName(), path or "(no file)",
                                                       "No such file or directory"))
    try:
        spec = inp.spec()
        pixels = inp.read_image(0, 0, 0, spec.nchannels, "float")
        names = list(spec.channelnames)
        is_float = spec.format.basetype in (oiio.HALF, oiio.FLOAT, oiio.DOUBLE)
    finally:
        inp.close()
    pixels = np.asarray(pixels, np.float32).reshape(spec.height, spec.width, spec.nchannels)
    out = OrderedDict()
    mapping = {"R": "rgba.red", "G": "rgba.green", "B": "rgba.blue", "A": "rgba.alpha", "Y": "rgba.red"}
    for i, n in enumerate(names):
        key = mapping.get(n, n if "." in n else "other." + n)
        out[key] = pixels[..., i]
    if names == ["Y"]:
        out["rgba.green"] = out["rgba.blue"] = out["rgba.red"]
    for c in ("rgba.red", "rgba.green", "rgba.blue"):
        out.setdefault(c, np.zeros((spec.height, spec.width), np.float32))
    out.setdefault("rgba.alpha", np.ones((spec.height, spec.width), np.float32) if not is_float
                   else np.zeros((spec.height, spec.width), np.float32))
    cs = node["colorspace"].value()   # "default (sRGB)": the name the default resolves to
    if not node["raw"].value() and (cs == "sRGB" or (cs == "default (sRGB)" and not is_float)):
        from nuke_colorize.color import srgb_to_linear
        for c in ("rgba.red", "rgba.green", "rgba.blue"):
            out[c] = srgb_to_linear(out[c])
    return out


def _write_image(node, img, f):
    """Write ``img`` (already at the active scale: in proxy mode the Reads upstream scaled it)
    to the Write's file; in proxy mode to its proxy file when it has one (the Write reference:
    "executes all renders at the currently active scale")."""
    import OpenImageIO as oiio
    target = node["file"]
    if _proxy_scale() != 1.0 and node["proxy"].getEvaluatedValue():
        target = node["proxy"]
    path = frame_path(target.getEvaluatedValue(), f)
    if not path:
        raise RuntimeError("%s: no file name" % node.fullName())
    folder = os.path.dirname(path)
    if folder and not os.path.isdir(folder):
        if not node["create_directories"].value():
            raise RuntimeError("%s: Can't write %s: No such file or directory" % (node.fullName(), path))
        os.makedirs(folder)
    ftype = node["file_type"].value().strip() or os.path.splitext(path)[1].lstrip(".").lower()
    chans = _channel_set(node["channels"].value(), img)
    names = {"rgba.red": "R", "rgba.green": "G", "rgba.blue": "B", "rgba.alpha": "A"}
    chans = [c for c in chans if c in img]
    data = np.stack([img[c] for c in chans], axis=-1).astype(np.float32)
    if ftype != "exr" and not node["raw"].value():
        from nuke_colorize.color import linear_to_srgb
        rgb = [i for i, c in enumerate(chans) if c in ("rgba.red", "rgba.green", "rgba.blue")]
        data[..., rgb] = linear_to_srgb(data[..., rgb])
    fmt = {"exr": oiio.HALF if node["datatype"].value() == "16 bit half" else oiio.FLOAT,
           "png": oiio.UINT8, "jpeg": oiio.UINT8, "tiff": oiio.UINT16, "dpx": oiio.UINT16}[ftype]
    spec = oiio.ImageSpec(data.shape[1], data.shape[0], data.shape[2], fmt)
    spec.channelnames = tuple(names.get(c, c) for c in chans)
    if ftype == "exr":
        comp = node["compression"].value()
        spec.attribute("compression", {"none": "none", "Zip (1 scanline)": "zips",
                                       "Zip (16 scanlines)": "zip"}.get(comp, "zip"))
    out = oiio.ImageOutput.create(path)
    if out is None or not out.open(path, spec):
        raise RuntimeError("%s: Can't write %s" % (node.fullName(), path))
    out.write_image(np.clip(data, 0, 1) if fmt in (oiio.UINT8, oiio.UINT16) else data)
    out.close()


class Group(Node):
    """A Group: holds nodes; ``with group:`` or ``begin()``/``end()`` make it the context."""

    def __init__(self, cls="Group", create_in=None):
        Node.__init__(self, "Group" if cls == "Group" else cls, create_in=create_in)
        self._children = []

    def _adopt(self, node):
        node._group = self
        self._children.append(node)
        name = node._knobs["name"].value()
        if not name:
            base = node.Class()
            i = 1
            taken = set(n.name() for n in self._children)
            while "%s%d" % (base, i) in taken:
                i += 1
            node._knobs["name"].setValue("%s%d" % (base, i))

    def begin(self):
        _state.context.append(self)
        return self

    def end(self):
        if not _state.context or _state.context[-1] is not self:
            raise RuntimeError("end() of a group that is not the current one")
        _state.context.pop()

    def __enter__(self):
        return self.begin()

    def __exit__(self, *exc):
        self.end()
        return False

    def nodes(self):
        return list(self._children)

    def node(self, name):
        for n in self._children:
            if n.name() == name:
                return n
        return None

    def maxInputs(self):
        return len([n for n in self._children if n.Class() == "Input"])

    def output(self):
        for n in self._children:
            if n.Class() == "Output":
                return n
        return None

    def _image_Group(self, f):
        out = self.output()
        if out is None:
            raise RuntimeError("%s: group has no Output" % self.fullName())
        return out._image(f)

    def _range(self):
        out = self.output()
        if out is not None:
            return out._range()
        return Node._range(self)

    def format(self):
        out = self.output()
        return out.format() if out is not None else root().format()


class Root(Group):
    def __init__(self):
        Group.__init__(self, "Group", create_in=False)
        self._class = "Root"
        for name, factory in _CLASS_KNOBS["Root"]:
            self._add(_make_knob(name, factory))
        self._knobs["name"] = File_Knob("name")
        self._knobs["name"]._node = self
        self["fps"].setValue(24.0)
        self["proxy_scale"].setValue(0.5)
        self["format"].setValue("HD_1080")

    def fullName(self):
        return "root"

    def name(self):
        return "root"

    def firstFrame(self):
        return self["first_frame"].value()

    def lastFrame(self):
        return self["last_frame"].value()

    def fps(self):
        return self["fps"].value()

    def format(self):
        return self["format"].value()

    def _range(self):
        return self.firstFrame(), self.lastFrame()


# ----------------------------------------------------------------------------- module API
def root():
    if _state.loading:  # onCreate while a script loads: the root is made last (as seen in Nuke)
        raise ValueError("A PythonObject is not attached to a node")
    return _state.root


def _current_group():
    return _state.context[-1] if _state.context else _state.root


def thisNode():
    return _state.this[-1][0] if _state.this else _current_group()


def thisKnob():
    return _state.this[-1][1] if _state.this else None


def thisGroup():
    return _current_group()


def thisClass():
    n = thisNode()
    return n.Class() if n is not None else None


def frame(f=None):
    if f is not None:
        _state.frame = int(f)
    return _state.frame


def toNode(name):
    parts = name.split(".")
    if parts[0] == "root":
        parts = parts[1:]
        group = _state.root
    else:
        group = _current_group()
    node = group
    for p in parts:
        if not isinstance(node, Group):
            return None
        node = node.node(p)
        if node is None:
            return None
    return node


def allNodes(filter=None, group=None, recurseGroups=False):
    group = group if group is not None else _current_group()
    found = []
    for n in group.nodes():
        if filter is None or n.Class() == filter:
            found.append(n)
        if recurseGroups and isinstance(n, Group):
            found.extend(allNodes(filter, n, True))
    return found


def selectedNodes(filter=None):
    return [n for n in allNodes(filter) if n.isSelected()]


def selectedNode():
    sel = selectedNodes()
    if not sel:
        raise ValueError("no node selected")
    return sel[-1]


def _new_node(cls, create_in=None):
    if cls == "Group":
        return Group(create_in=create_in)
    return Node(cls, create_in=create_in)


class _Nodes(object):
    """``nuke.nodes.Read(file=..., first=...)``: create a node with knob values, not connected."""

    def __getattr__(self, cls):
        if cls.startswith("_"):
            raise AttributeError(cls)
        if cls not in _CLASS_KNOBS:
            raise AttributeError("module 'nuke.nodes' has no attribute '%s'" % cls)

        def make(**knobs):
            inputs = knobs.pop("inputs", None)
            node = _new_node(cls)
            for k, v in knobs.items():
                node[k].setValue(v)  # NameError on a misspelt knob
            if inputs:
                for i, n in enumerate(inputs):
                    node.setInput(i, n)
            # onCreate runs for every node made, however (nuke.addOnCreate: "when a node is
            # created"; addOnUserCreate is the one for nodes the user makes)
            _run_node_python(node, "onCreate")
            _run_callbacks("onCreates", node)
            return node
        return make


nodes = _Nodes()


def createNode(node, args="", inpanel=True):
    """Create a node of class ``node`` connected to the selected node, and select it."""
    if not isinstance(node, str):
        raise TypeError("createNode needs a class name")
    try:
        sel = selectedNode()
    except ValueError:
        sel = None
    n = _new_node(node)
    if args:
        words = nkfile.list_words(args)
        if len(words) % 2:
            raise ValueError("createNode args must be knob/value pairs")
        for k, v in zip(words[::2], words[1::2]):
            n[k].fromScript(v)
    for other in allNodes():
        other.setSelected(False)
    if sel is not None and n.maxInputs() > 0:
        n.setInput(0, sel)
    n.setSelected(True)
    _run_callbacks("onCreates", n)
    return n


def delete(node):
    group = node._group
    if group is None:
        raise ValueError("cannot delete %s" % node)
    group._children.remove(node)
    for other in group._children:
        for i, n in list(other._inputs.items()):
            if n is node:
                del other._inputs[i]
    node._group = None


# --------------------------------------------------------------------------- .nk loading
def nodePaste(s):
    """Paste nodes from a .nk file (a path) into the current group, connected and selected.

    Returns the last top-level node created (what Nuke's nodePaste leaves selected).
    """
    path = s
    with open(path, "r") as fh:
        text = fh.read()
    script = nkfile.parse(text, source=path)
    try:
        cut_paste_input = selectedNode()
    except ValueError:
        cut_paste_input = None
    for n in allNodes():
        n.setSelected(False)
    created = _build(script.nodes, _current_group(), {}, cut_paste_input, text)
    top = [created[id(d)] for d in script.nodes]
    for n in top:
        n.setSelected(True)
    for d in nkfile.iter_nodes(script.nodes):
        _run_node_python(created[id(d)], "onCreate")
        _run_callbacks("onCreates", created[id(d)])
    return top[-1] if top else None


def _build(decls, group, made, cut_paste_input, text):
    for d in decls:
        if d.cls == "Group":
            node = Group(create_in=group)
        else:
            node = Node(d.cls, create_in=group)
        made[id(d)] = node
        for uk in d.user_knobs:
            node.addKnob(_user_knob(uk))
        for name, value in d.knobs:
            if name == "name":
                node.setName(value)
                continue
            knob = node[name]
            if isinstance(value, nkfile.Expression):
                knob.setExpression(str(value))
            else:
                knob.fromScript(value)
        if d.children:
            _build(d.children, node, made, None, text)
    for d in decls:  # connections after every node of this level exists
        node = made[id(d)]
        for i, src in enumerate(d.inputs):
            if src is None:
                continue
            target = made.get(id(src))
            if target is None and d.parent is None and cut_paste_input is not None:
                target = cut_paste_input
            node.setInput(i, target)
    if cut_paste_input is not None:
        for d in decls:
            if d.parent is None and d.inputs and d.inputs[0] is None and d.cls != "Input":
                made[id(d)].setInput(0, cut_paste_input)
                break
    return made


def _user_knob(uk):
    cls = _USER_KNOB_CLASSES.get(uk.type)
    if cls is None:
        raise RuntimeError("fake nuke: no knob class for addUserKnob type %d" % uk.type)
    label = uk.label if uk.label is not None else uk.name
    if cls is Enumeration_Knob:
        k = Enumeration_Knob(uk.name, label, uk.items or [])
    elif cls is Text_Knob:
        k = Text_Knob(uk.name, label, uk.text or "")
    elif issubclass(cls, Script_Knob):
        k = cls(uk.name, label, uk.text or "")
    else:
        k = cls(uk.name, label)
        if uk.text is not None and cls is Link_Knob:
            k.setLink(uk.text)
    if uk.tooltip:
        k.setTooltip(uk.tooltip)
    for flag in uk.flags:
        bit = _FLAG_NAMES.get(flag[1:], 0)
        if flag[0] == "+":
            k.setFlag(bit)
        else:
            k.clearFlag(bit)
    return k


def nodeCopy(s):
    """Copy the selected nodes of the current group, as .nk text, to the file ``s`` (Nuke's
    ``%clipboard%`` is not supported). Inputs from outside the selection are not kept: pasting
    connects the first node to the node selected then, as Nuke's ``cut_paste_input`` does."""
    if s == "%clipboard%":
        raise NotImplementedError("fake nuke: nodeCopy to the clipboard")
    chosen = [n for n in _current_group().nodes() if n.isSelected()]
    if not chosen:
        raise RuntimeError("No nodes selected")
    lines = ["set cut_paste_input [stack 0]", "version %s" % NUKE_VERSION_STRING.replace("v", " v")]
    names = {}
    for n in _topological(chosen):
        ins = [n.input(i) for i in range(n.inputs())]
        for src in reversed(ins):
            lines.append("push $%s" % names[id(src)] if src is not None and id(src) in names else "push 0")
        _write_node(n, len(ins), lines, "")
        names[id(n)] = "N%s_%d" % (n.name(), len(names))
        lines.append("set %s [stack 0]" % names[id(n)])
    with open(s, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return True


# --------------------------------------------------------------------------- expressions
def _eval_expression(expr, knob):
    node = knob.node()

    def ref(m):
        owner, kname = m.group(1), m.group(2)
        if owner == "parent":
            target = node._group if node is not None else None
        elif owner == "root":
            target = root()
        elif owner == "this":
            target = node
        else:
            target = node._group.node(owner) if node is not None and node._group is not None else None
        if target is None:
            raise RuntimeError("expression %r: no node %s" % (expr, owner))
        k = target[kname]
        v = k.getValue() if isinstance(k, Enumeration_Knob) else k.value()
        return repr(float(v))

    code = re.sub(r"\b([A-Za-z_]\w*)\.([A-Za-z_]\w*)\b", ref, expr)
    code = re.sub(r"\bframe\b", repr(float(_state.frame)), code)
    if not re.match(r"^[\d\s.+\-*/()eE<>=!?:]*$", code):
        raise RuntimeError("fake nuke: cannot evaluate expression %r" % expr)
    return eval(code, {"__builtins__": {}}, {})


# --------------------------------------------------------------------------- python in knobs
def _run_python(code, node, knob, what):
    if not code:
        return
    _state.this.append((node, knob))
    try:
        glb = {"nuke": sys.modules[__name__], "__builtins__": builtins, "__name__": "__main__"}
        exec(compile(code, what, "exec"), glb)
    finally:
        _state.this.pop()


def _run_node_python(node, knob_name):
    k = node.knob(knob_name)
    if k is not None and k.value():
        _run_python(k.value(), node, k if knob_name != "onCreate" else None,
                    "%s.%s" % (node.fullName(), knob_name))


def _knob_changed(node, knob):
    kc = node.knob("knobChanged")
    if kc is not None and kc.value():
        _run_python(kc.value(), node, knob, "%s.knobChanged" % node.fullName())
    for call, args, kwargs in _callbacks("knobChangeds", node.Class()):
        _state.this.append((node, knob))
        try:
            call(*args, **kwargs)
        finally:
            _state.this.pop()


def _changed_by_code(knob):
    """Nuke 17.1 mode (``_state.knob_changed_always``): knobChanged "is triggered for any knob
    change, including changes made programmatically and changes that occur even when the
    Properties panel is closed" (nuke.addKnobChanged, Python API reference 17.1)."""
    node = knob._node
    if not _state.knob_changed_always or node is None:
        return
    if _state.kc_depth > 20:
        raise RuntimeError("fake nuke: knobChanged recursion on %s.%s" % (node.fullName(), knob.name()))
    _state.kc_depth += 1
    try:
        _knob_changed(node, knob)
    finally:
        _state.kc_depth -= 1


def _user_set(knob, value):
    """What a panel edit does: the panel is open (an edit there needs it), the value is set,
    then the node's knobChanged (and global knobChanged callbacks) run."""
    node = knob.node()
    node.showControlPanel()
    knob.setValue(value)
    if not _state.knob_changed_always:   # else setValue ran it
        _knob_changed(node, knob)


def _connect(node, i, up):
    """The user wires input ``i`` of ``node`` in the node graph. As in Nuke 13-17.0, the
    node's knobChanged sees "inputChange" only while its control panel is open; otherwise
    only the idle updateUI pass (:func:`_idle`) notices."""
    node.setInput(i, up)
    if node.shown() or _state.knob_changed_always:
        _knob_changed(node, node.knob("inputChange") or Knob("inputChange"))


def _idle():
    """Nuke's idle UI update: every node's ``updateUI`` script and addUpdateUI callbacks run
    (panels open or not)."""
    for n in allNodes(group=root(), recurseGroups=True):
        _run_node_python(n, "updateUI")
        _run_callbacks("updateUIs", n)


def _press(knob):
    """Click a button knob."""
    if not isinstance(knob, Script_Knob):
        raise TypeError("%s is not a button" % knob.name())
    knob.execute()


# --------------------------------------------------------------------------- callbacks
def _add(kind, call, args, kwargs, nodeClass):
    if not callable(call):
        raise ValueError("call must be a callable")
    if type(args) != tuple:
        args = (args,)
    if type(kwargs) != dict:
        raise ValueError("kwargs must be a dictionary")
    lst = _state.callbacks.setdefault(kind, {}).setdefault(nodeClass, [])
    entry = (call, args, kwargs)
    if entry in lst:
        lst.remove(entry)
    lst.append(entry)


def _remove(kind, call, args, kwargs, nodeClass):
    if type(args) != tuple:
        args = (args,)
    lst = _state.callbacks.get(kind, {}).get(nodeClass, [])
    if (call, args, kwargs) in lst:
        lst.remove((call, args, kwargs))


def _callbacks(kind, cls):
    table = _state.callbacks.get(kind, {})
    return list(table.get(cls, [])) + list(table.get("*", []))


def _run_callbacks(kind, node):
    for call, args, kwargs in _callbacks(kind, node.Class()):
        _state.this.append((node, None))
        try:
            call(*args, **kwargs)
        finally:
            _state.this.pop()


def addBeforeRender(call, args=(), kwargs={}, nodeClass="Write"):
    _add("beforeRenders", call, args, kwargs, nodeClass)


def addBeforeFrameRender(call, args=(), kwargs={}, nodeClass="Write"):
    _add("beforeFrameRenders", call, args, kwargs, nodeClass)


def addAfterFrameRender(call, args=(), kwargs={}, nodeClass="Write"):
    _add("afterFrameRenders", call, args, kwargs, nodeClass)


def addAfterRender(call, args=(), kwargs={}, nodeClass="Write"):
    _add("afterRenders", call, args, kwargs, nodeClass)


def removeBeforeRender(call, args=(), kwargs={}, nodeClass="Write"):
    _remove("beforeRenders", call, args, kwargs, nodeClass)


def removeBeforeFrameRender(call, args=(), kwargs={}, nodeClass="Write"):
    _remove("beforeFrameRenders", call, args, kwargs, nodeClass)


def addOnCreate(call, args=(), kwargs={}, nodeClass="*"):
    _add("onCreates", call, args, kwargs, nodeClass)


def addOnScriptLoad(call, args=(), kwargs={}, nodeClass="Root"):
    _add("onScriptLoads", call, args, kwargs, nodeClass)


def addKnobChanged(call, args=(), kwargs={}, nodeClass="*", node=None):
    _add("knobChangeds", call, args, kwargs, nodeClass)


def addUpdateUI(call, args=(), kwargs={}, nodeClass="*"):
    _add("updateUIs", call, args, kwargs, nodeClass)


# --------------------------------------------------------------------------- execute
def execute(nameOrNode, start=None, end=None, incr=1, views=None, continueOnError=False):
    """Render a Write node over [start, end]; runs the render callbacks like Nuke does."""
    node = toNode(nameOrNode) if isinstance(nameOrNode, str) else nameOrNode
    if node is None:
        raise ValueError("%s is not a node" % nameOrNode)
    if node.Class() != "Write":
        raise RuntimeError("%s cannot be executed" % node.name())
    if node["disable"].value():
        raise RuntimeError("%s is disabled" % node.name())
    if start is None:   # the documented defaults: root.first_frame, root.last_frame
        start = root().firstFrame()
    if end is None:
        end = root().lastFrame()
    incr = int(incr)
    if incr == 0:
        raise ValueError("incr must not be 0")
    frames = list(range(int(start), int(end) + (1 if incr > 0 else -1), incr))
    if _state.executing:
        raise RuntimeError("I'm already executing something else")
    if env["gui"] and _state.cancel_execute:
        raise RuntimeError("Cancelled")
    _state.executing = True
    try:
        _execute_frames(node, frames, continueOnError)
    finally:
        _state.executing = False


def _execute_frames(node, frames, continueOnError):
    _render_callbacks("beforeRenders", "beforeRender", node)
    try:
        for f in frames:
            frame(f)
            _render_callbacks("beforeFrameRenders", "beforeFrameRender", node)
            try:
                img = node._image(f)
                _write_image(node, img, f)
            except Exception as err:
                if not continueOnError:
                    raise RuntimeError(str(err))
            _render_callbacks("afterFrameRenders", "afterFrameRender", node)
    finally:
        _render_callbacks("afterRenders", "afterRender", node)


def _render_callbacks(kind, knob_name, node):
    _run_node_python(node, knob_name)
    for call, args, kwargs in _callbacks(kind, node.Class()):
        _state.this.append((node, None))
        try:
            call(*args, **kwargs)
        except Exception as err:
            raise RuntimeError("%s: %s" % (kind[:-1], err))
        finally:
            _state.this.pop()


REPLACE = 1


def filename(node, i=None):
    """The file a Read/Write works with, as nuke.filename documents it: "based on the root.proxy
    settings and which of the fullsize/proxy filenames are filled in" (in proxy mode the
    ``proxy`` file when the node has one), "All expansion of commands and variables is done"
    (TCL evaluated), a sequence still as ``%04d``; with ``nuke.REPLACE`` the current frame's
    number is put in. None without a file."""
    k = node.knob("file")
    proxy = node.knob("proxy")
    if _state.root is not None and _state.root["proxy"].value() and isinstance(proxy, File_Knob) \
            and proxy.getText():
        k = proxy
    if k is None:
        return None
    text = k.getEvaluatedValue() if hasattr(k, "getEvaluatedValue") else k.value()
    if not text:
        return None
    return frame_path(text, _state.frame) if i == REPLACE else text


# --------------------------------------------------------------------------- UI-ish API
def message(prompt):
    _state.messages.append(("message", str(prompt)))


def critical(prompt):
    _state.messages.append(("critical", str(prompt)))


def warning(prompt):
    _state.messages.append(("warning", str(prompt)))


def tprint(*args, **kwargs):
    print(*args, **kwargs)


_ask_answer = True


def ask(prompt):
    _state.messages.append(("ask", str(prompt)))
    return _ask_answer


def getFilename(message, pattern=None, default=None, favorites=None, type=None, multiple=False):
    return None


class ProgressTask(object):
    """Progress bar; ``isCancelled()`` turns True after ``nuke._cancel_progress_tasks()``."""

    def __init__(self, name):
        self._name = name
        self._entry = {"name": name, "messages": [], "progress": [], "finished": False}
        _state.progress.append(self._entry)

    def setMessage(self, s):
        self._entry["messages"].append(str(s))

    def setProgress(self, i):
        if isinstance(i, bool) or not isinstance(i, int):
            raise TypeError("setProgress needs an int")
        self._entry["progress"].append(i)

    def isCancelled(self):
        return _state.cancel_tasks

    def __del__(self):
        self._entry["finished"] = True


def _cancel_progress_tasks(value=True):
    _state.cancel_tasks = bool(value)


def _progress_log():
    return _state.progress


def executeInMainThread(call, args=(), kwargs={}):
    if type(args) != tuple:
        args = (args,)
    with _state.main_lock:
        _state.main_queue.append((call, args, kwargs))


def executeInMainThreadWithResult(call, args=(), kwargs={}):
    if type(args) != tuple:
        args = (args,)
    return call(*args, **kwargs)


def _process_main_thread():
    """Run what background threads queued with executeInMainThread (the GUI event loop)."""
    count = 0
    while True:
        with _state.main_lock:
            if not _state.main_queue:
                return count
            call, args, kwargs = _state.main_queue.pop(0)
        call(*args, **kwargs)
        count += 1


# --------------------------------------------------------------------------- menus / plugins
class MenuItem(object):
    def __init__(self, name, command=None, shortcut="", icon="", tooltip=""):
        self._name, self._command, self._shortcut, self._icon = name, command, shortcut, icon
        self._tooltip = tooltip

    def name(self):
        return self._name

    def script(self):
        return self._command if isinstance(self._command, str) else ""

    def icon(self):
        return self._icon

    def invoke(self):
        if callable(self._command):
            self._command()
        elif self._command:
            _run_python(self._command, None, None, "menu %s" % self._name)


class Menu(MenuItem):
    def __init__(self, name, icon=""):
        MenuItem.__init__(self, name, icon=icon)
        self._items = []

    def items(self):
        return list(self._items)

    def findItem(self, name):
        parts = name.split("/")
        item = self
        for p in parts:
            if not isinstance(item, Menu):
                return None
            nxt = [i for i in item._items if i.name() == p]
            if not nxt:
                return None
            item = nxt[0]
        return item

    def addMenu(self, name, icon=None, tooltip=None, index=-1):
        parts = name.split("/")
        menu = self
        for p in parts:
            found = menu.findItem(p)
            if not isinstance(found, Menu):
                found = Menu(p, icon or "")
                menu._items.append(found)
            menu = found
        return menu

    def addCommand(self, name, command=None, shortcut=None, icon=None, tooltip=None, index=-1,
                   readonly=False, shortcutContext=None, tag=None, tagTarget=None):
        if command is not None and not (isinstance(command, str) or callable(command)):
            raise TypeError("command must be a string of Python or a callable")
        parent, _, leaf = name.rpartition("/")
        menu = self.addMenu(parent) if parent else self
        old = menu.findItem(leaf)
        if old is not None:
            menu._items.remove(old)
        item = MenuItem(leaf, command, shortcut or "", icon or "", tooltip or "")
        menu._items.append(item)
        return item

    def addSeparator(self, **kwargs):
        self._items.append(MenuItem("", None))

    def removeItem(self, name):
        item = self.findItem(name)
        if item is not None:
            self._items.remove(item)


def menu(name):
    """As nuke.menu (Python API reference): one of 'Nuke', 'Pane', 'Nodes' ("The Nodes toolbar
    (and Nodegraph right mouse menu)"), 'Properties', 'Animation', 'Viewer', 'Node Graph',
    'Axis'; "Raises RuntimeError: if Nuke isn't in GUI mode"."""
    if not env["gui"]:
        raise RuntimeError("nuke.menu: Nuke is not in GUI mode")
    if name not in ("Nuke", "Pane", "Nodes", "Viewer", "Node Graph", "Properties", "Animation", "Axis"):
        raise ValueError("no menu named %s" % name)
    return _state.menus.setdefault(name, Menu(name))


def toolbar(name, create=True):
    """A toolbar; ``toolbar("Nodes")`` is the Nodes toolbar, the same as ``menu("Nodes")``."""
    key = "Nodes" if name == "Nodes" else "toolbar:" + name
    if key not in _state.menus and not create:
        return None
    return _state.menus.setdefault(key, Menu(name))


def pluginAddPath(args, addToSysPath=True):
    """As Nuke's (nuke.overrides.pluginAddPath): "Adds all the paths to the beginning of the
    Nuke plugin path. If the path already exists in the list of plugin paths, it is moved to
    the start. If this command is executed inside an init.py then the init.py in the path will
    be executed." Trailing slashes are stripped; only paths new to the plug-in path go to
    sys.path."""
    paths = [args] if isinstance(args, str) else list(args)
    paths = [re.sub(r"[/\\]+$", "", os.path.expanduser(p)) for p in paths]
    old = tuple(_state.plugin_path)
    for p in [p for p in paths if p]:
        if p in _state.plugin_path:
            _state.plugin_path.remove(p)
        _state.plugin_path.insert(0, p)
        init = os.path.join(p, "init.py")
        if _state.in_init and p not in old and os.path.isfile(init):
            _exec_file(init)
    if addToSysPath:
        for p in _state.plugin_path:
            if p not in old and p not in sys.path:
                sys.path.insert(0, p)


def pluginAppendPath(args, addToSysPath=True):
    paths = [args] if isinstance(args, str) else list(args)
    for p in paths:
        if p not in _state.plugin_path:
            _state.plugin_path.append(p)
            if addToSysPath and p not in sys.path:
                sys.path.append(p)


def pluginPath():
    return list(_state.plugin_path)


def _exec_file(path):
    with open(path, "r") as fh:
        code = fh.read()
    glb = {"nuke": sys.modules[__name__], "__builtins__": builtins, "__file__": path,
           "__name__": "__main__"}
    is_init = os.path.basename(path) == "init.py"
    _state.in_init += is_init
    try:
        exec(compile(code, path, "exec"), glb)
    finally:
        _state.in_init -= is_init


def _startup(nuke_dir, gui=False):
    """Nuke's start-up over a ~/.nuke folder and $NUKE_PATH: the plug-in path is ~/.nuke, then
    the $NUKE_PATH folders; "the NUKE_PATH environment variable is parsed in reverse order when
    loading init.py and menu.py" (~/.nuke's last; a pluginAddPath in an init.py runs the added
    folder's init.py), then in the GUI every plug-in folder's menu.py, in the same order."""
    env["gui"] = bool(gui)
    dirs = [nuke_dir] + [v for v in os.environ.get("NUKE_PATH", "").split(os.pathsep) if v]
    for d in dirs:
        if d not in _state.plugin_path:
            _state.plugin_path.append(d)
    for d in reversed(dirs):
        init = os.path.join(d, "init.py")
        if os.path.isfile(init):
            _exec_file(init)
    if gui:
        for p in reversed(list(_state.plugin_path)):
            m = os.path.join(p, "menu.py")
            if os.path.isfile(m):
                _exec_file(m)


# --------------------------------------------------------------------------- script files
def scriptName():
    name = root()["name"].value()
    if not name:
        raise RuntimeError("no script name")
    return name


def script_directory():
    """The folder of the saved script; "" when it has no name yet or while a script loads
    (the root is not attached then), as Nuke's own nuke_internal.utils.script_directory."""
    try:
        name = root()["name"].value()
    except ValueError:
        name = None
    return os.path.dirname(name) if name else ""


def _script_text():
    """The current script as .nk text (top-level nodes and groups, user knobs included)."""
    lines = ["version %s" % NUKE_VERSION_STRING.replace("v", " v"), "Root {", " inputs 0"]
    for k in ("first_frame", "last_frame", "fps"):
        lines.append(" %s %s" % (k, root()[k].toScript()))
    lines.append(' format "%s"' % root().format().toScript())
    lines.append("}")
    _write_group(root(), lines, "")
    return "\n".join(lines) + "\n"


def _topological(nodes):
    order, seen = [], set()

    def visit(n):
        if id(n) in seen:
            return
        seen.add(id(n))
        for up in n.dependencies():
            if up in nodes:
                visit(up)
        order.append(n)
    for n in nodes:
        visit(n)
    return order


def _write_group(group, lines, indent):
    names = {}
    for n in _topological(group.nodes()):
        ins = [n.input(i) for i in range(n.inputs())]
        for src in reversed(ins):
            if src is None:
                lines.append(indent + "push 0")
            else:
                lines.append(indent + "push $%s" % names[id(src)])
        _write_node(n, len(ins), lines, indent)
        var = "N%s_%d" % (n.name(), len(names))
        names[id(n)] = var
        lines.append(indent + "set %s [stack 0]" % var)
    return names


def _write_node(n, n_inputs, lines, indent):
    cls = "Group" if isinstance(n, Group) else n.Class()
    lines.append(indent + "%s {" % cls)
    lines.append(indent + " inputs %d" % n_inputs)
    builtin = set(k for k, _ in _COMMON) | set(k for k, _ in _CLASS_KNOBS[cls])
    for k in n._knobs.values():
        if k.name() in builtin and (k.notDefault() or k.hasExpression() or k.name() == "name") \
                and not isinstance(k, Script_Knob):
            lines.append(indent + " %s %s" % (k.name(), _nk_value(k)))
    for k in n._knobs.values():
        if k.name() in builtin:
            continue
        tid = [t for t, c in _USER_KNOB_CLASSES.items() if c is type(k)][0]
        spec = "%d %s l \"%s\"" % (tid, k.name(), nkfile.escape(k.label()))
        if isinstance(k, Enumeration_Knob):
            spec += " M {%s}" % " ".join('"%s"' % nkfile.escape(v) for v in k.values())
        if isinstance(k, (Script_Knob, Text_Knob)):
            spec += ' T "%s"' % nkfile.escape(k.value())
        for fname, bit in _FLAG_NAMES.items():
            if k.getFlag(bit):
                spec += " +" + fname
        lines.append(indent + " addUserKnob {%s}" % spec)
        if not isinstance(k, (Script_Knob, Text_Knob, Tab_Knob)) and (k.notDefault() or k.hasExpression()):
            lines.append(indent + " %s %s" % (k.name(), _nk_value(k)))
    lines.append(indent + "}")
    if isinstance(n, Group):
        _write_group(n, lines, indent + " ")
        lines.append(indent + "end_group")


def _nk_value(k):
    if k.hasExpression():
        return "{{%s}}" % k._expression
    if isinstance(k, Format_Knob):
        return k.toScript()
    if isinstance(k, Enumeration_Knob):
        return '"%s"' % nkfile.escape(k.value())
    if isinstance(k, Color_Knob):
        v = k.value()
        return "{%s}" % " ".join(repr(x) for x in v) if isinstance(v, list) else repr(v)
    text = k.toScript()
    return '"%s"' % nkfile.escape(text)


def scriptSaveAs(filename=None, overwrite=-1):
    filename = filename or scriptName()
    with open(filename, "w") as fh:
        fh.write(_script_text())
    root()["name"].setValue(filename)


def scriptSave(filename=None):
    scriptSaveAs(filename)
    return True


def scriptOpen(filename):
    """Load a saved script into a fresh session (what ``nuke -x script.nk`` starts with)."""
    with open(filename, "r") as fh:
        text = fh.read()
    script = nkfile.parse(text, source=filename)
    r = root()
    body_nodes = []
    for d in script.nodes:
        if d.cls == "Root":
            for k, v in d.knobs:
                if k != "name":
                    r[k].fromScript(v)
        else:
            body_nodes.append(d)
    _state.loading = True   # the root is attached last: while knobs are set too
    try:
        made = _build(body_nodes, r, {}, None, text)
        for d in nkfile.iter_nodes(body_nodes):
            _run_node_python(made[id(d)], "onCreate")
            _run_callbacks("onCreates", made[id(d)])
    finally:
        _state.loading = False
    r["name"].setValue(filename)
    _run_callbacks("onScriptLoads", r)


_reset()

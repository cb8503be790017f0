"""Reader and validator for Nuke scripts and gizmos (``.nk`` / ``.gizmo``), standard library only.

The format is a small TCL dialect. A script is a sequence of statements, one per line:

* ``Class {knob value ...}``: a node. It pops its inputs off the current stack (``inputs N``
  in the body, else the class default; the top of the stack becomes input 0) and pushes
  itself. ``Group {...}`` also opens a new stack for the nodes inside, closed by
  ``end_group``, after which the group is pushed on the outer stack.
* ``set VAR [stack 0]`` names the top of the stack; ``push $VAR`` / ``push 0`` pushes a
  named node or an empty input; ``version``, ``add_layer`` and ``#`` comments carry no nodes.

Values are TCL words: ``bare``, ``"quoted"`` (``\\n``, ``\\"``, ``\\[`` escapes) or
``{braced}`` (raw, nested). ``addUserKnob {TYPE name l LABEL t TOOLTIP T VALUE M {items}
R min max +FLAG -FLAG}`` adds a user knob.

:func:`validate` checks what would make Nuke refuse or misread a file: balanced blocks, stack
pops, group nesting, ``Input`` numbers, known classes and knob names, known user-knob types,
enumeration values, ``parent.knob`` expressions, and that embedded Python compiles.
"""
from __future__ import annotations

import ast
import re
import sys

# ----------------------------------------------------------------------------- schema
# Knob names per class (what Nuke writes for these classes), plus knobs every node has.
COMMON_KNOBS = frozenset("""
name xpos ypos selected label note_font note_font_size note_font_color tile_color gl_color
hide_input cached disable dope_sheet bookmark postage_stamp help onCreate onDestroy knobChanged
updateUI autolabel icon indicators lifetimeStart lifetimeEnd useLifetime panelDropped
""".split())

CLASS_KNOBS = {
    "Root": set("""first_frame last_frame fps format proxy_type proxy_format proxySetting
        colorManagement OCIO_config customOCIOConfigPath defaultViewerLUT workingSpaceLUT monitorLut monitorOutLUT
        int8Lut int16Lut logLut floatLut views frame lock_range""".split()),
    "Read": set("""file proxy format proxy_format first last origfirst origlast origset before
        after frame_mode frame on_error reload colorspace raw premultiplied auto_alpha version
        file_type checkHashOnRead localizationPolicy ocioColorspace""".split()),
    "Write": set("""file proxy file_type channels datatype compression metadata first_part
        colorspace raw views create_directories use_limit first last render_order beforeRender
        afterRender beforeFrameRender afterFrameRender version autocrop premultiplied
        checkHashOnRead""".split()),
    "Group": set(),
    "Input": {"number"},
    "Output": set(),
    "Dot": set(),
    "NoOp": set(),
    "Remove": {"operation", "channels", "channels2", "channels3", "channels4"},
    "Switch": {"which"},
    "Constant": {"color", "format", "channels", "first", "last"},
    "Grade": {"channels", "blackpoint", "whitepoint", "black", "white", "multiply", "add",
              "gamma", "reverse", "black_clamp", "white_clamp", "mix"},
    "Blur": {"channels", "size", "filter", "quality", "crop", "mix"},
    "Viewer": {"frame", "frame_range", "input_process", "viewerProcess"},
    "BackdropNode": {"bdwidth", "bdheight", "z_order"},
    "StickyNote": set(),
}

DEFAULT_INPUTS = {"Root": 0, "Read": 0, "Constant": 0, "Input": 0, "BackdropNode": 0,
                  "StickyNote": 0, "Switch": 2}  # everything else: 1

# addUserKnob type ids (nuke.KnobType) this validator accepts, with the Python class they make.
USER_KNOB_TYPES = {
    1: "String_Knob", 2: "File_Knob", 3: "Int_Knob", 4: "Enumeration_Knob", 6: "Boolean_Knob",
    7: "Double_Knob", 12: "XY_Knob", 13: "XYZ_Knob", 14: "WH_Knob", 15: "BBox_Knob",
    17: "Format_Knob", 18: "Color_Knob", 19: "AColor_Knob", 20: "Tab_Knob", 22: "PyScript_Knob",
    26: "Text_Knob", 41: "Link_Knob", 43: "Multiline_Eval_String_Knob",
}
_USER_KNOB_OPTIONS = {"l": 1, "t": 1, "T": 1, "M": 1, "R": 2, "n": 1, "N": 1}
_KNOWN_FLAGS = {"STARTLINE", "HIDDEN", "INVISIBLE", "DISABLED", "NO_ANIMATION", "DO_NOT_WRITE",
                "NO_UNDO", "READ_ONLY", "ENDLINE", "NO_RERENDER", "INVISIBLE_KNOB"}
PYTHON_KNOBS = {"knobChanged", "onCreate", "onDestroy", "updateUI", "autolabel", "beforeRender",
                "afterRender", "beforeFrameRender", "afterFrameRender"}


class NkError(ValueError):
    """A problem in a .nk file; ``line`` is 1-based where known."""

    def __init__(self, message, line=None, source=None):
        self.line = line
        self.source = source
        where = ""
        if source:
            where += str(source)
        if line:
            where += (":" if where else "line ") + str(line)
        super(NkError, self).__init__((where + ": " if where else "") + message)


# ----------------------------------------------------------------------------- tokens
class Token(object):
    __slots__ = ("kind", "text", "line", "subst")

    def __init__(self, kind, text, line, subst=None):
        self.kind = kind  # "word", "quoted", "braced", "newline"
        self.text = text
        self.line = line
        # quoted words: the first unescaped '[' or '$NAME' in them, which Nuke's TCL reader
        # substitutes when the file loads (Nuke itself writes them as \[ and \$)
        self.subst = subst

    def __repr__(self):
        return "Token(%s, %r, line %d)" % (self.kind, self.text, self.line)


def unescape(text):
    """Value of a quoted word: ``\\n`` newline, ``\\t`` tab, ``\\x`` -> ``x`` otherwise."""
    out = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:
            nxt = text[i + 1]
            out.append({"n": "\n", "t": "\t", "r": "\r"}.get(nxt, nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def escape(text):
    """Inverse of :func:`unescape`: a string ready to put between double quotes."""
    out = []
    for c in text:
        if c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif c in '\\"[]${}':
            out.append("\\" + c)
        else:
            out.append(c)
    return "".join(out)


_TCL_VAR_START = re.compile(r"[A-Za-z0-9_{:]")


def tokenize(text, line=1, source=None):
    """Split TCL-ish text into tokens; raises NkError on an unterminated quote or brace."""
    tokens = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            tokens.append(Token("newline", "\n", line))
            line += 1
            i += 1
        elif c in " \t\r;":
            i += 1
        elif c == "#" and (not tokens or tokens[-1].kind == "newline"):
            while i < n and text[i] != "\n":
                i += 1
        elif c == '"':
            start_line = line
            j = i + 1
            buf = []
            subst = None
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    buf.append(text[j:j + 2])
                    if text[j + 1] == "\n":
                        line += 1
                    j += 2
                    continue
                if text[j] == "\n":
                    line += 1
                if subst is None and (text[j] == "[" or
                                      (text[j] == "$" and j + 1 < n and _TCL_VAR_START.match(text[j + 1]))):
                    subst = text[j:j + 12].split("\n")[0]
                buf.append(text[j])
                j += 1
            if j >= n:
                raise NkError("unterminated quoted string", start_line, source)
            tokens.append(Token("quoted", unescape("".join(buf)), start_line, subst))
            i = j + 1
        elif c == "{":
            start_line = line
            depth = 1
            j = i + 1
            while j < n and depth:
                ch = text[j]
                if ch == "\\" and j + 1 < n:
                    if text[j + 1] == "\n":
                        line += 1
                    j += 2
                    continue
                if ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                elif ch == "\n":
                    line += 1
                j += 1
            if depth:
                raise NkError("unbalanced '{': block is never closed", start_line, source)
            tokens.append(Token("braced", text[i + 1:j - 1], start_line))
            i = j
        elif c == "}":
            raise NkError("unbalanced '}': nothing to close", line, source)
        else:
            j = i
            depth = 0
            while j < n:
                ch = text[j]
                if ch == "\\" and j + 1 < n:
                    j += 2
                    continue
                if ch == "[":
                    depth += 1
                elif ch == "]":
                    depth -= 1
                elif depth <= 0 and (ch in " \t\r\n;{}\""):
                    break
                elif ch == "\n":
                    line += 1
                j += 1
            if depth > 0:
                raise NkError("unbalanced '[' in %r" % text[i:j][:40], line, source)
            tokens.append(Token("word", text[i:j], line))
            i = j
    return tokens


def split_lines(tokens):
    """Group tokens into statements (lists), dropping empty lines."""
    lines, cur = [], []
    for t in tokens:
        if t.kind == "newline":
            if cur:
                lines.append(cur)
            cur = []
        else:
            cur.append(t)
    if cur:
        lines.append(cur)
    return lines


def list_words(text):
    """Words of a TCL list (``{a "b c" {d e}}`` -> ``['a', 'b c', 'd e']``)."""
    return [t.text for t in tokenize(text) if t.kind != "newline"]


# ----------------------------------------------------------------------------- nodes
class UserKnob(object):
    def __init__(self, type_id, name, line):
        self.type = type_id
        self.name = name
        self.line = line
        self.label = None
        self.tooltip = None
        self.text = None  # T: script of a button, text of a Text knob, link target
        self.items = None  # M: enumeration items
        self.range = None
        self.flags = []
        self.substituted = []  # (option, text) of quoted options Nuke would TCL-substitute

    @property
    def class_name(self):
        return USER_KNOB_TYPES.get(self.type, "Unknown_Knob")


class NodeDecl(object):
    """One node as written in the file.

    ``knobs``: ordered list of (name, value) where value is a str (quoted/bare/braced text)
    and expressions are kept as ``{{expr}}`` -> ``Expression``. ``inputs``: list of NodeDecl
    or None (input 0 first). ``children``: nodes inside a Group.
    """

    def __init__(self, cls, line):
        self.cls = cls
        self.line = line
        self.knobs = []
        self.user_knobs = []
        self.inputs = []
        self.children = []
        self.parent = None
        self.n_inputs = None
        self.substituted = []  # (knob, text, line) of quoted values Nuke would TCL-substitute

    @property
    def name(self):
        for k, v in self.knobs:
            if k == "name":
                return v
        return None

    def knob(self, name, default=None):
        for k, v in self.knobs:
            if k == name:
                return v
        return default

    def user_knob(self, name):
        for uk in self.user_knobs:
            if uk.name == name:
                return uk
        return None

    def __repr__(self):
        return "NodeDecl(%s %s)" % (self.cls, self.name)


class Expression(str):
    """A knob value written as ``{{expr}}``: an expression, not a constant."""


class Script(object):
    def __init__(self):
        self.nodes = []  # top-level nodes in file order
        self.stack = []  # what is left on the top-level stack
        self.version = None
        self.layers = []


def _word_value(tok):
    if tok.kind == "braced":
        inner = tok.text.strip()
        if inner.startswith("{") and inner.endswith("}") and inner.count("{") == 1:
            return Expression(inner[1:-1].strip())
        return tok.text
    return tok.text


def parse_user_knob(body, line, source=None):
    words = [t for t in tokenize(body, line, source) if t.kind != "newline"]
    if len(words) < 2:
        raise NkError("addUserKnob needs a type and a name", line, source)
    try:
        type_id = int(words[0].text)
    except ValueError:
        raise NkError("addUserKnob type %r is not a number" % words[0].text, line, source)
    uk = UserKnob(type_id, words[1].text, line)
    i = 2
    while i < len(words):
        w = words[i]
        key = w.text
        if w.kind == "word" and key[:1] in "+-" and key[1:]:
            uk.flags.append(key)
            i += 1
            continue
        if w.kind != "word" or key not in _USER_KNOB_OPTIONS:
            raise NkError("addUserKnob %s: unknown option %r" % (uk.name, key), w.line, source)
        count = _USER_KNOB_OPTIONS[key]
        vals = words[i + 1:i + 1 + count]
        if len(vals) < count:
            raise NkError("addUserKnob %s: option %s needs %d value(s)" % (uk.name, key, count),
                          w.line, source)
        if key in ("l", "t", "T") and vals[0].kind == "quoted" and vals[0].subst:
            uk.substituted.append((key, vals[0].subst))
        if key == "l":
            uk.label = vals[0].text
        elif key == "t":
            uk.tooltip = vals[0].text
        elif key == "T":
            uk.text = vals[0].text
        elif key == "M":
            uk.items = list_words(vals[0].text) if vals[0].kind == "braced" else [vals[0].text]
        elif key == "R":
            uk.range = (vals[0].text, vals[1].text)
        i += 1 + count
    return uk


def parse_node_body(decl, body, line, source=None):
    for stmt in split_lines(tokenize(body, line, source)):
        head = stmt[0]
        if head.kind != "word":
            raise NkError("%s: expected a knob name, found %s %r" % (decl.cls, head.kind, head.text[:30]),
                          head.line, source)
        if head.text == "addUserKnob":
            if len(stmt) != 2 or stmt[1].kind != "braced":
                raise NkError("addUserKnob must be followed by one {...} block", head.line, source)
            decl.user_knobs.append(parse_user_knob(stmt[1].text, stmt[1].line, source))
            continue
        if head.text == "inputs":
            if len(stmt) != 2:
                raise NkError("'inputs' needs one number", head.line, source)
            try:
                decl.n_inputs = int(stmt[1].text)
            except ValueError:
                raise NkError("'inputs %s' is not a number" % stmt[1].text, head.line, source)
            continue
        if len(stmt) < 2:
            raise NkError("%s: knob %s has no value" % (decl.cls, head.text), head.line, source)
        if len(stmt) == 2:
            value = _word_value(stmt[1])
            if stmt[1].kind == "quoted" and stmt[1].subst:
                decl.substituted.append((head.text, stmt[1].subst, head.line))
        else:
            value = " ".join(t.text for t in stmt[1:])
        decl.knobs.append((head.text, value))


def parse(text, source=None):
    """Parse a whole script; returns :class:`Script`. Raises NkError on the first problem.

    Only syntax and stack structure are checked here; :func:`validate` checks the rest.
    """
    script = Script()
    scopes = [(None, [])]  # (group decl, stack)
    variables = {}
    for stmt in split_lines(tokenize(text, 1, source)):
        head = stmt[0]
        group, stack = scopes[-1]
        word = head.text if head.kind == "word" else None
        if word == "version":
            script.version = " ".join(t.text for t in stmt[1:])
        elif word == "set":
            if len(stmt) != 3 or stmt[2].text.replace(" ", "") != "[stack0]":
                raise NkError("only 'set VAR [stack 0]' is supported", head.line, source)
            variables[stmt[1].text] = stack[-1] if stack else None
        elif word == "push":
            if len(stmt) != 2:
                raise NkError("'push' needs one argument", head.line, source)
            arg = stmt[1].text
            if arg == "0":
                stack.append(None)
            elif arg.startswith("$"):
                if arg[1:] not in variables:
                    raise NkError("push of undefined variable %s" % arg, head.line, source)
                stack.append(variables[arg[1:]])
            else:
                raise NkError("cannot push %r" % arg, head.line, source)
        elif word == "end_group":
            if group is None:
                raise NkError("end_group without an open Group", head.line, source)
            scopes.pop()
            scopes[-1][1].append(group)
        elif word == "add_layer":
            if len(stmt) != 2 or stmt[1].kind != "braced":
                raise NkError("add_layer needs one {layer channels...} block", head.line, source)
            script.layers.append(list_words(stmt[1].text))
        elif word is not None and len(stmt) == 2 and stmt[1].kind == "braced":
            decl = NodeDecl(word, head.line)
            parse_node_body(decl, stmt[1].text, stmt[1].line, source)
            n = decl.n_inputs if decl.n_inputs is not None else DEFAULT_INPUTS.get(word, 1)
            if n > len(stack):
                raise NkError("%s %s needs %d input(s) but the stack holds %d"
                              % (word, decl.name or "", n, len(stack)), head.line, source)
            popped = [stack.pop() for _ in range(n)]
            decl.inputs = popped  # first popped (top of stack) is input 0
            decl.parent = group
            (group.children if group is not None else script.nodes).append(decl)
            if word == "Group":
                scopes.append((decl, []))
            else:
                stack.append(decl)
        else:
            raise NkError("cannot read statement starting with %r" % head.text[:40], head.line, source)
    if len(scopes) > 1:
        raise NkError("Group %s is never closed with end_group" % (scopes[-1][0].name,),
                      scopes[-1][0].line, source)
    script.stack = scopes[0][1]
    return script


# ----------------------------------------------------------------------------- validation
def iter_nodes(nodes):
    for n in nodes:
        yield n
        for c in iter_nodes(n.children):
            yield c


def _check_python(code, what, line, problems, source):
    """Embedded Python must compile in Nuke 13's Python, 3.7, whichever Python validates."""
    try:
        if sys.version_info >= (3, 8):
            ast.parse(code, what, feature_version=(3, 7))
        else:
            compile(code, what, "exec")
    except SyntaxError as err:
        problems.append(NkError("%s: Python does not compile: %s (line %s of the code)"
                                % (what, err.msg, err.lineno), line, source))


_PARENT_REF = re.compile(r"\bparent\.([A-Za-z_]\w*)")


def validate(text, source=None):
    """All problems found in a script or gizmo, as a list of NkError (empty when valid)."""
    try:
        script = parse(text, source)
    except NkError as err:
        return [err]
    problems = []
    for decl in iter_nodes(script.nodes):
        who = "%s %s" % (decl.cls, decl.name or "(unnamed)")
        if decl.cls not in CLASS_KNOBS:
            problems.append(NkError("unknown node class %s" % decl.cls, decl.line, source))
            continue
        known = COMMON_KNOBS | CLASS_KNOBS[decl.cls]
        user = {}
        tabs_seen = False
        for uk in decl.user_knobs:
            if uk.type not in USER_KNOB_TYPES:
                problems.append(NkError("%s: user knob %s has unknown type %d"
                                        % (who, uk.name, uk.type), uk.line, source))
            if uk.type == 20:
                tabs_seen = True
            elif not tabs_seen:
                problems.append(NkError("%s: user knob %s comes before any tab (type 20)"
                                        % (who, uk.name), uk.line, source))
            if uk.name in user or (uk.name in known and uk.name not in ("", "help")):
                problems.append(NkError("%s: knob %s is defined twice" % (who, uk.name), uk.line, source))
            if uk.type == 4 and not uk.items:
                problems.append(NkError("%s: enumeration %s has no items (M {...})" % (who, uk.name),
                                        uk.line, source))
            if uk.type == 22 and uk.text:
                _check_python(uk.text, "%s.%s" % (decl.name, uk.name), uk.line, problems, source)
            for option, snippet in uk.substituted:
                problems.append(_substitution_error("%s: user knob %s, option %s" % (who, uk.name, option),
                                                    snippet, uk.line, source))
            for flag in uk.flags:
                if flag[1:] not in _KNOWN_FLAGS:
                    problems.append(NkError("%s: knob %s has unknown flag %s" % (who, uk.name, flag),
                                            uk.line, source))
            user[uk.name] = uk
        for name, snippet, line in decl.substituted:
            problems.append(_substitution_error("%s: knob %s" % (who, name), snippet, line, source))
        for name, value in decl.knobs:
            if name not in known and name not in user:
                problems.append(NkError("%s: unknown knob %r" % (who, name), decl.line, source))
                continue
            uk = user.get(name)
            if uk is not None and uk.type == 4 and uk.items and not isinstance(value, Expression):
                if value not in uk.items:
                    problems.append(NkError("%s: %s %r is not one of %s" % (who, name, value, uk.items),
                                            decl.line, source))
            if name in PYTHON_KNOBS and value:
                _check_python(value, "%s.%s" % (decl.name, name), decl.line, problems, source)
            if isinstance(value, Expression):
                for ref in _PARENT_REF.findall(value):
                    parent = decl.parent
                    if parent is None:
                        problems.append(NkError("%s: %s refers to parent.%s outside a group"
                                                % (who, name, ref), decl.line, source))
                    elif parent.user_knob(ref) is None and ref not in COMMON_KNOBS:
                        problems.append(NkError("%s: %s refers to parent.%s, which does not exist"
                                                % (who, name, ref), decl.line, source))
        if decl.cls == "Group":
            _check_group(decl, problems, source)
    _check_names(script.nodes, problems, source)
    return problems


def _substitution_error(what, snippet, line, source):
    """A quoted value holding an unescaped ``[`` or ``$NAME``: Nuke reads .nk files as TCL, so
    it runs the bracketed command (or reads the variable) when the file loads; Nuke writes
    these characters escaped (``label "\\[value size]"``)."""
    return NkError("%s: %r in a quoted value is TCL substitution when Nuke loads the file; "
                   "write it escaped (\\%s)" % (what, snippet, snippet[0]), line, source)


def _check_group(group, problems, source):
    numbers = []
    outputs = 0
    for child in group.children:
        if child.cls == "Input":
            try:
                numbers.append(int(child.knob("number", "0")))
            except ValueError:
                problems.append(NkError("Input %s: number is not an integer" % child.name, child.line, source))
        elif child.cls == "Output":
            outputs += 1
            if not child.inputs or child.inputs[0] is None:
                problems.append(NkError("Group %s: its Output is not connected" % group.name,
                                        child.line, source))
    if sorted(numbers) != list(range(len(numbers))):
        problems.append(NkError("Group %s: Input numbers %s are not 0..%d without gaps or repeats"
                                % (group.name, sorted(numbers), len(numbers) - 1), group.line, source))
    if outputs != 1:
        problems.append(NkError("Group %s has %d Output nodes (needs exactly 1)" % (group.name, outputs),
                                group.line, source))


def _check_names(nodes, problems, source):
    seen = {}
    for n in nodes:
        if n.name:
            if n.name in seen:
                problems.append(NkError("two nodes are named %s in the same group" % n.name, n.line, source))
            seen[n.name] = n
        if n.children:
            _check_names(n.children, problems, source)


def validate_file(path):
    with open(path, "r") as fh:
        return validate(fh.read(), source=path)

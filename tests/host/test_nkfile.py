"""The .nk/.gizmo validator, on the shipped files and on broken ones."""
from __future__ import annotations

import ast
import glob
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nuke_colorize.host import nkfile

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted(glob.glob(str(REPO / "gizmos" / "*.nk")) + glob.glob(str(REPO / "gizmos" / "*.gizmo")))
GOOD_GROUP = """Group {
 inputs 0
 name G
 addUserKnob {20 t l T}
 addUserKnob {4 mode M {a "b c"}}
 mode "b c"
 addUserKnob {22 go T "print(1)\\nx = \\[1, 2]" +STARTLINE}
}
 Input {
  inputs 0
  name in0
 }
 Input {
  inputs 0
  name in1
  number 1
 }
 Switch {
  inputs 2
  which {{parent.mode}}
 }
 Output {
  name Output1
 }
end_group
"""


def test_shipped_gizmos_are_valid():
    assert SHIPPED, "no gizmo shipped"
    for path in SHIPPED:
        assert nkfile.validate_file(path) == [], path


def test_a_good_group_parses_with_stack_order_and_escapes():
    script = nkfile.parse(GOOD_GROUP)
    (group,) = script.nodes
    switch = [c for c in group.children if c.cls == "Switch"][0]
    assert [i.name for i in switch.inputs] == ["in1", "in0"]  # top of the stack is input 0
    assert group.user_knob("go").text == "print(1)\nx = [1, 2]"
    assert group.user_knob("mode").items == ["a", "b c"]
    assert isinstance(switch.knob("which"), nkfile.Expression)
    assert nkfile.validate(GOOD_GROUP) == []


@pytest.mark.parametrize("text,message", [
    ("Read {\n name R\n", "never closed"),
    ("Read {\n name R\n}\n}\n", "unbalanced '}'"),
    ('Read {\n file "/a/b.exr\n}\n', "unterminated"),
    ("Grade {\n name G\n}\n", "needs 1 input(s) but the stack holds 0"),
    ("push $nope\n", "undefined variable"),
    ("end_group\n", "end_group without"),
    ("Group {\n inputs 0\n name G\n}\n Output {\n inputs 0\n}\n", "never closed with end_group"),
    ("Read {\n fiel /a.exr\n}\n", "unknown knob 'fiel'"),
    ("Blurr {\n inputs 0\n}\n", "unknown node class Blurr"),
    ("Read {\n addUserKnob {20 t}\n addUserKnob {99 x}\n}\n", "unknown type 99"),
    ("Read {\n addUserKnob {3 x}\n}\n", "before any tab"),
    ("Read {\n addUserKnob {20 t}\n addUserKnob {22 b T \"if x\\n  pass\"}\n}\n", "does not compile"),
    ("Read {\n addUserKnob {20 t}\n addUserKnob {22 b T \"if (n := 2):\\n  pass\"}\n}\n",
     "does not compile"),  # Python 3.8 syntax: Nuke 13 embeds 3.7
    ("Read {\n addUserKnob {20 t}\n addUserKnob {4 m M {a b}}\n m c\n}\n", "'c' is not one of"),
    ("Read {\n addUserKnob {20 t}\n addUserKnob {6 b +STRATLINE}\n}\n", "unknown flag +STRATLINE"),
    ("Read {\n addUserKnob {20 t}\n addUserKnob {6 b q 1}\n}\n", "unknown option 'q'"),
    ("Group {\n inputs 0\n name G\n knobChanged \"nuke.thisNode(\"\n}\n Output {\n inputs 0\n}\nend_group\n",
     "does not compile"),
    (GOOD_GROUP.replace("  number 1\n", ""), "Input numbers [0, 0]"),
    (GOOD_GROUP.replace(" Output {\n  name Output1\n }\n", ""), "0 Output nodes"),
    (GOOD_GROUP.replace("parent.mode", "parent.mood"), "parent.mood, which does not exist"),
    ("Read {\n name A\n}\nRead {\n name A\n}\n", "two nodes are named A"),
    # Nuke reads quoted values as TCL: an unescaped [ runs a command, $NAME reads a variable
    # when the file loads (Nuke writes them escaped: label "\\[value size]")
    ("Group {\n inputs 0\n name G\n knobChanged \"n = nuke.thisNode()\\nprint(n['status'])\"\n}\n"
     " Output {\n inputs 0\n}\nend_group\n", "TCL substitution"),
    ("Read {\n addUserKnob {20 t}\n addUserKnob {22 b T \"x = [1]\"}\n}\n", "option T"),
    ("Read {\n addUserKnob {20 t}\n addUserKnob {1 s t \"under $SHOW\"}\n}\n", "option t"),
])
def test_broken_files_are_reported(text, message):
    problems = nkfile.validate(text, "bad.nk")
    assert problems, text
    assert any(message in str(p) for p in problems), [str(p) for p in problems]
    assert all(str(p).startswith("bad.nk") for p in problems)


def test_escaped_and_braced_brackets_are_not_substitution():
    ok = ("Group {\n inputs 0\n name G\n knobChanged \"print(nuke.thisNode()\\['x'])\"\n"
          " label \"\\[value name] costs \\$5\"\n onCreate {print([1, '$HOME'])}\n"
          " addUserKnob {20 t}\n addUserKnob {4 m M {\"[a]\" b}}\n}\n Input {\n inputs 0\n name in0\n}\n"
          " Output {\n name Output1\n}\nend_group\n")
    assert nkfile.validate(ok) == []


def test_escape_round_trip():
    code = 'x = "a [b] {c}"\n\tprint(x, "\\\\")'
    assert nkfile.unescape(nkfile.escape(code)) == code
    text = 'NoOp {\n inputs 0\n addUserKnob {20 t}\n addUserKnob {22 b T "%s"}\n}\n' % nkfile.escape(code)
    assert nkfile.parse(text).nodes[0].user_knob("b").text == code


HOST_SIDE = sorted(glob.glob(str(REPO / "nuke_colorize" / "host" / "**" / "*.py"), recursive=True)
                   + glob.glob(str(REPO / "nuke_colorize" / "ui" / "*.py"))
                   + [str(REPO / "nuke_colorize" / "__init__.py"), str(REPO / "nuke_colorize" / "errors.py")]
                   + glob.glob(str(REPO / "install" / "**" / "*.py"), recursive=True))


def test_host_side_is_python37_standard_library_code():
    """Nuke 13 embeds Python 3.7: the host side must parse as 3.7 and import no third party
    package except Qt (ui) and nuke (host/nuke)."""
    allowed = {"nuke", "qtpy", "PySide2", "PySide6", "nuke_colorize"}
    stdlib = set(sys.stdlib_module_names)
    for path in HOST_SIDE:
        source = Path(path).read_text()
        tree = ast.parse(source, path, feature_version=(3, 7))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top in stdlib or top in allowed, "%s imports %s" % (path, name)
                in_package = os.sep + "nuke_colorize" + os.sep in path
                if top == "nuke" and in_package:
                    assert os.sep + os.path.join("host", "nuke") + os.sep in path, "%s imports nuke" % path
    py37 = "/root/.pyenv/versions/3.7.16/bin/python3.7"
    if os.path.exists(py37):
        proc = subprocess.run([py37, "-m", "py_compile"] + HOST_SIDE, capture_output=True)
        assert proc.returncode == 0, proc.stderr.decode()


def _top_level_names(code):
    """Names the code binds at its top level (imports, assignments, defs)."""
    names = []
    for stmt in ast.parse(code).body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            names += [(a.asname or a.name).split(".")[0] for a in stmt.names]
        elif isinstance(stmt, (ast.FunctionDef, ast.ClassDef)):
            names.append(stmt.name)
        else:
            names += [n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
    return names


def test_shipped_node_python_binds_only_private_names():
    """Button scripts and node callbacks run in Nuke's shared Python namespace (the Script
    Editor's): a script binding ``node`` or ``panel`` would overwrite an artist's variable there."""
    checked = 0
    for path in SHIPPED:
        for decl in nkfile.iter_nodes(nkfile.parse(Path(path).read_text(), path).nodes):
            codes = [(uk.name, uk.text) for uk in decl.user_knobs if uk.type == 22 and uk.text]
            codes += [(k, v) for k, v in decl.knobs if k in nkfile.PYTHON_KNOBS and v]
            for name, code in codes:
                public = [n for n in _top_level_names(code) if not n.startswith("_") and n != "nuke"]
                assert public == [], (path, decl.name, name, public)
                checked += 1
    assert checked >= 7  # 4 buttons, 3 callbacks

"""``nuke-colorize models``: list, install and verify model weights.

Examples::

    nuke-colorize models list          # also 'nuke-colorize models' alone
    nuke-colorize models install --from ~/Downloads/colorization_checkpoint.zip
    nuke-colorize models verify
    NUKE_COLORIZE_MODELS=/studio/models nuke-colorize models verify
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import ModelError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "models", help="list, install and verify model weights",
        description="Model weights are never downloaded by the program. Fetch the archive named by "
                    "'models list' once, then 'models install --from' it. The models folder is "
                    "$NUKE_COLORIZE_MODELS, else <checkout>/models, else a per-user data folder.")
    p.add_argument("--models-dir", metavar="DIR",
                   help="use this models folder instead (default: $NUKE_COLORIZE_MODELS, else <checkout>/models, "
                        "else the per-user data folder)")
    sub = p.add_subparsers(dest="models_command", metavar="ACTION", help="what to do (default: list)")
    ls = sub.add_parser("list", help="the models, where to get them, and what is installed")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ins = sub.add_parser("install", help="copy weights from the downloaded zip or its unpacked folder")
    ins.add_argument("--from", dest="source", required=True, metavar="ZIP_OR_DIR",
                     help="colorization_checkpoint.zip, or the folder it was unpacked to")
    ins.add_argument("--model", default="deepexemplar", help="which model (default deepexemplar, the only one)")
    ver = sub.add_parser("verify", help="load every installed file, check keys, shapes and SHA-256")
    ver.add_argument("--json", action="store_true", help="machine-readable output")
    for action in (ls, ins, ver):   # also after the action: 'models verify --models-dir DIR'
        action.add_argument("--models-dir", metavar="DIR", default=argparse.SUPPRESS,
                            help="use this models folder instead (as 'models --models-dir DIR ...')")
    p.set_defaults(func=run)


def _status_dicts(states):
    return [{"name": s.name, "role": s.role, "path": str(s.path), "status": s.status,
             "detail": s.detail, "sha256": s.sha256, "size": s.size} for s in states]


def run(args) -> int:
    from .. import weights

    folder = weights.models_dir(getattr(args, "models_dir", None))
    action = getattr(args, "models_command", None) or "list"
    if action == "install":
        done = weights.install(args.source, folder, model=args.model)
        for st in done:
            came = f", {st.detail}" if st.detail != "installed" else ""
            print(f"installed {st.name} ({st.size / 1e6:.1f} MB, sha256 {st.sha256[:12]}...{came}) -> {st.path}")
        print(f"recorded in {folder / weights.INSTALLED_NAME}")
        return 0
    deep = action == "verify"
    report = {}
    for name in weights.MODELS:
        report[name] = weights.status(folder, name, deep=deep)
    if getattr(args, "json", False):
        print(json.dumps({"models_dir": str(folder),
                          "models": {n: {"title": weights.MODELS[n]["title"],
                                         "licence": weights.MODELS[n]["licence"],
                                         "download": weights.MODELS[n]["download"],
                                         "files": _status_dicts(s)} for n, s in report.items()}},
                         indent=2))
    else:
        print(f"models folder: {folder}")
        for name, states in report.items():
            m = weights.MODELS[name]
            print(f"\n{name}: {m['title']}")
            print(f"  licence:  {m['licence']}")
            print(f"  get:      {m['download']}")
            for s in states:
                print(f"  {s.status:<10} {s.name:<32} {s.detail}")
    unusable = ("missing", "invalid", "modified", "damaged")
    bad = [s for states in report.values() for s in states if s.status in unusable]
    if deep and bad:
        first = bad[0]
        raise ModelError(f"{len(bad)} weights file(s) not usable; first: {first.name} is {first.status}"
                         f" ({first.detail})", file=str(Path(first.path)),
                         hint=weights.missing_hint(folder, first.name) if first.status == "missing"
                         else weights.install_hint())
    return 0

"""Writing (or, for ``--dry-run``, printing) the files a farm submission consists of."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
from typing import Dict, List, Optional, Sequence, Set, TextIO

from ..errors import ColorizeError, InputError
from ..io.atomic import atomic_write_text


#: list of the files ``write_files`` wrote into a folder (so a later run may replace them)
MARKER = ".nuke-colorize-farm.json"


def _ours(out_dir: str) -> Set[str]:
    """Names of the files an earlier run wrote into ``out_dir`` (empty when unknown)."""
    try:
        with open(os.path.join(out_dir, MARKER), encoding="utf-8") as fh:
            names = json.load(fh).get("files", [])
    except (OSError, ValueError, AttributeError):
        return set()
    return {n for n in names if isinstance(n, str)}


def write_files(out_dir: str, files: Dict[str, str]) -> List[str]:
    """Write ``{relative name: text}`` under ``out_dir`` atomically; returns the absolute paths.

    Files written by an earlier run into the same folder (listed in :data:`MARKER`) are
    replaced; any other existing file of the same name (``-o`` given a folder that holds
    someone else's ``template.yaml``, say) is refused before anything is written."""
    out_dir = os.path.abspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise InputError("output path exists and is not a folder", file=out_dir)
    ours = _ours(out_dir)
    for rel in files:
        path = os.path.join(out_dir, rel)
        if os.path.lexists(path) and rel not in ours:
            raise InputError("exists and was not written by nuke-colorize farm: not written over", file=path,
                             hint="give -o a new or empty folder, or remove the file")
    # the list first: a run killed part way leaves files a later run may replace
    atomic_write_text(os.path.join(out_dir, MARKER),
                      json.dumps({"files": sorted(ours | set(files))}, indent=1) + "\n")
    written = []
    for rel, text in files.items():
        path = os.path.join(out_dir, rel)
        atomic_write_text(path, text)
        written.append(path)
    return written


def print_files(files: Dict[str, str], stream: TextIO) -> None:
    """Dry run: every file's name and content, separated by rulers."""
    for rel, text in files.items():
        stream.write(f"==== {rel} ====\n{text}")
        if not text.endswith("\n"):
            stream.write("\n")


def command_line(argv: Sequence[str], windows: Optional[bool] = None) -> str:
    """``argv`` as one command line for the shell that runs it: ``/bin/sh`` on Linux and macOS
    (POSIX quoting, :func:`shlex.join`); on Windows ``cmd.exe`` and the C runtime, where single
    quotes are ordinary characters (an argument is double-quoted by the C runtime's rules,
    :func:`subprocess.list2cmdline`). ``windows`` None: this machine's.

    Used for OpenCue's layer commands (RQD writes one into a file run by ``/bin/sh``, or on
    Windows into a ``.bat`` file, rqd ``_createCommandFile``) and for the submission commands
    printed to be pasted into this machine's shell."""
    if windows is None:
        windows = os.name == "nt"
    return subprocess.list2cmdline(list(argv)) if windows else shlex.join(argv)


def run_client(argv: Sequence[str], *, what: str, hint: str,
               cwd: Optional[str] = None, timeout: float = 600.0) -> str:
    """Run a scheduler's client program; return its stdout, or raise ColorizeError with its message."""
    try:
        proc = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise ColorizeError(f"{what}: {argv[0]} is not installed or not on PATH", hint=hint) from None
    except subprocess.TimeoutExpired:
        raise ColorizeError(f"{what}: {argv[0]} did not answer within {timeout:.0f} s", hint=hint) from None
    if proc.returncode != 0:
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-3:]
        raise ColorizeError(f"{what} failed (exit {proc.returncode}): {' | '.join(tail)}", hint=hint)
    return proc.stdout

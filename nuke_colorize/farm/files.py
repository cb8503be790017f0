"""Writing (or, for ``--dry-run``, printing) the files a farm submission consists of."""
from __future__ import annotations

import os
import subprocess
from typing import Dict, List, Optional, Sequence, TextIO

from ..errors import ColorizeError, InputError
from ..io.atomic import atomic_write_text


def write_files(out_dir: str, files: Dict[str, str]) -> List[str]:
    """Write ``{relative name: text}`` under ``out_dir`` atomically; returns the absolute paths."""
    out_dir = os.path.abspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise InputError("output path exists and is not a folder", file=out_dir)
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

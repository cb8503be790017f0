"""``nuke-colorize`` command line: dispatches to the modules in :mod:`nuke_colorize.commands`.

Every failure the user can act on is a :class:`~nuke_colorize.errors.ColorizeError` and is
printed as one line on stderr with a non-zero exit; a traceback only with ``--debug``.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import re
import signal
import sys
from typing import List, Optional, Sequence

from . import __version__
from .errors import ColorizeError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nuke-colorize",
        description="Exemplar-based video colorization for compositors (Nuke plug-in and farm tool).")
    parser.add_argument("--version", action="version", version=f"nuke-colorize {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from . import commands
    commands.help_when_bare(parser)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{commands.__name__}.{info.name}")
        mod.register(sub)
    _add_debug(sub)
    return parser


def _add_debug(subparsers) -> None:
    """``--debug`` after the command too (``render ... --debug``, as the error lines suggest),
    on every command and action; not given there, the top-level value stands."""
    for p in subparsers.choices.values():
        if not any("--debug" in a.option_strings for a in p._actions):
            p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                           help="show tracebacks on errors")
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                _add_debug(action)


_TERMINATED = []
_INTERRUPTED = []


def _terminate(signum, frame):  # SIGTERM behaves like Ctrl-C: clean up temp files, exit 143
    _TERMINATED.append(signum)
    raise KeyboardInterrupt


def _interrupted() -> int:
    _INTERRUPTED.append(True)
    what = "terminated" if _TERMINATED else "interrupted"
    print(f"nuke-colorize: {what}; no partial output was left behind", file=sys.stderr)
    return 128 + int(_TERMINATED[0]) if _TERMINATED else 130


_NEGATIVE_KEYFRAME = re.compile(r"^-\d+=")


def join_negative_refs(argv: Sequence[str]) -> List[str]:
    """``--ref -2=PATH`` -> ``--ref=-2=PATH``: argparse takes a value that starts with ``-``
    and is not a plain negative number for an option, so a keyframe at a negative frame
    would only be accepted written as ``--ref=-2=PATH``. Tokens after ``--`` are left alone."""
    out: List[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        tok = args[i]
        if tok == "--":
            out += args[i:]
            break
        if tok == "--ref" and i + 1 < len(args) and _NEGATIVE_KEYFRAME.match(args[i + 1]):
            out.append(f"--ref={args[i + 1]}")
            i += 2
            continue
        out.append(tok)
        i += 1
    return out


SIGPIPE_EXIT = 128 + 13   # what a shell reports for a process ended by SIGPIPE


def _stdout_closed() -> bool:
    """True when the reader of stdout has gone (``... | head -1`` after its line): flushing
    fails with a broken pipe, or the pipe reports an error (POLLERR: no reader) when nothing
    is buffered. Any other broken pipe (a worker's or farm client's) is not stdout's."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        return True
    except (OSError, ValueError, AttributeError):
        return False
    try:
        import select
        poller = select.poll()
        poller.register(sys.stdout.fileno(), 0)
        return any(ev & select.POLLERR for _fd, ev in poller.poll(0))
    except (OSError, ValueError, AttributeError, ImportError):
        return False


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's flush at exit has nowhere to fail
    (it would print 'Exception ignored ... BrokenPipeError' and exit 120)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: Optional[List[str]] = None) -> int:
    try:
        signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread
        pass
    try:  # building the parser imports the command modules (numpy, ...): Ctrl-C may land here too
        parser = build_parser()
        args = parser.parse_args(join_negative_refs(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:
        return _interrupted()
    try:
        code = int(args.func(args) or 0)
        if sys.stdout is not None:
            sys.stdout.flush()   # a reader gone before the last buffered output is met here
        return code
    except BrokenPipeError:
        if not _stdout_closed():
            if args.debug:
                raise
            print("nuke-colorize: internal error: BrokenPipeError: a pipe to another process closed "
                  "(run with --debug for the traceback)", file=sys.stderr)
            return 1
        # the reader of stdout stopped reading (``| head``): quietly, as a SIGPIPE would
        _quiet_stdout()
        return SIGPIPE_EXIT
    except ColorizeError as err:
        if args.debug:
            raise
        print(f"nuke-colorize: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return _interrupted()
    except MemoryError:
        if args.debug:
            raise
        print("nuke-colorize: error: out of memory (lower the working size: --set max_working_size=N with "
              "exemplar, --set working_size=N or a smaller --set affinity_mb=N with deepexemplar)",
              file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - last-resort one-liner for farm logs
        if args.debug:
            raise
        text = " ".join(str(err).split())  # one line even when a library's message has several
        print(f"nuke-colorize: internal error: {type(err).__name__}: {text} "
              f"(run with --debug for the traceback)", file=sys.stderr)
        return 1


def run() -> None:
    """The console script: :func:`main`, then exit with its code.

    After a Ctrl-C / SIGTERM (temporary files already removed, the one line already printed)
    the process leaves at once with ``os._exit``: interpreter shutdown would otherwise run
    library teardown (OpenCV / PyTorch thread pools, C++ static destructors) in whatever state
    the signal caught them, which now and then aborts (SIGABRT) or waits forever."""
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:   # the reader left after main returned
        _quiet_stdout()
        code = SIGPIPE_EXIT
    except (OSError, ValueError):
        pass
    if _INTERRUPTED:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()

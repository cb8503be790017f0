"""OpenCue: an outline built with opencue-pyoutline, serialized to the Cuebot job spec (XML).

Layers:

* ``cache_<shot>_<A>-<B>``: one single-frame layer per independent segment, running
  ``nuke-colorize cache build <shot.json> --frames=A-B`` (the sequential pre-pass; plus
  ``--no-output`` for a plain shot);
* ``render``: frames ``first-last`` in chunks of ``chunk_size``, depending on every cache layer
  (layer-on-layer), running ``nuke-colorize render --shot <shot.json>
  --frames=#FRAME_START#-#FRAME_END#`` or ``nuke -x -F #FRAME_START#-#FRAME_END# script.nk``; Cuebot
  replaces the tokens with the first and last frame of each chunk. Cuebot takes a chunk's last
  frame as its first + ``chunk_size`` - 1 whatever the layer's range (``DispatchSupportService``:
  ``#FRAME_END#`` is ``frameNumber + chunkSize - 1``), so when the range is not a whole number of
  chunks its last, shorter chunk is a layer of its own, ``render_<A>-<B>``, whose chunk size is
  its length (see :func:`render_layers`). Cuebot cannot dispatch a negative frame (it reads
  the number back from the frame's name, ``-005-render``): a render chunk starting before frame 0
  is a layer of its own running the chunk's frames as literal numbers, and a pre-pass layer
  whose segment starts before 0 runs on frame 0 (its command names its frames anyway).

With ``--prepass-timeout`` / ``--task-timeout`` the cache layers / the render layers get
pyoutline's ``timeout`` layer argument, written as the spec's ``<timeout>`` (job spec DTD 1.10
and later): whole **minutes** (Cuebot parses an integer and kills a frame whose runtime in whole
minutes exceeds it, so a frame may run up to a minute longer; pyoutline's own comment calls it
seconds, Cuebot and pycue's ``Layer.setTimeout`` use minutes). A fraction is rounded up to the
next minute, said by :func:`timeout_notes`. :func:`run_in_process` does not apply them.

The spec is made with pyoutline's ``serialize_simple`` (commands run as written, without the
pycuerun wrapper, which needs a site install). pyoutline writes a session folder when an outline
is set up; it goes under the output folder (``session/``), never ``~/.opencue``.

:func:`run_in_process` executes the layers here, in dependency order, through pyoutline's own
``Layer.execute(frame)`` with the same token substitution Cuebot does, for testing a job without
a Cuebot (pyoutline's ``local`` backend is broken out of the box and ignores dependencies).
Submission (:func:`submit`) goes through ``outline.cuerun.launch`` to the Cuebot named by
``$CUEBOT_HOSTS`` (pycue's default: localhost:8443).
"""
from __future__ import annotations

import contextlib
import os
import shlex
import socket
import subprocess
from typing import Dict, Iterator, List, Optional, Tuple

import FileSequence  # noqa: F401  (installed with pyoutline; imported first for a clear ImportError)
import outline
import outline.config
import outline.constants
import outline.cuerun
import outline.depend
import outline.layer

from ..errors import ColorizeError
from .files import command_line
from .plan import FarmPlan, sanitize_name, timeout_whole_minutes

TOKENS = ("#FRAME_START#", "#FRAME_END#", "#IFRAME#", "#ZFRAME#", "#FRAME_CHUNK#")
SUBMIT_HINT = ("set CUEBOT_HOSTS=host:8443 to your Cuebot, or write the spec with -o and "
               "submit it from CueSubmit/cueadmin")


class ColorizeCommand(outline.layer.Layer):
    """A layer running one shell command per chunk (``command`` arg: a shell-quoted string).

    On the farm Cuebot substitutes the frame tokens; :meth:`_execute` does the same when the
    layer runs in-process (``layer.execute(frame)``).
    """

    def __init__(self, name, **args):
        super().__init__(name, **args)
        self.require_arg("command")

    def _execute(self, frames):
        frames = list(frames)
        chunk = self.get_chunk_size()   # as Cuebot does: the chunk's end is not clipped to the range
        cmd = substitute_tokens(self.get_arg("command"), frames[0], frames[0] + chunk - 1, chunk)
        proc = subprocess.run(cmd if os.name == "nt" else shlex.split(cmd))
        if proc.returncode != 0:
            raise ColorizeError(f"OpenCue layer {self.get_name()} frames {frames[0]}-"
                                f"{frames[0] + chunk - 1} failed (exit {proc.returncode}): {cmd}")


def substitute_tokens(command: str, first: int, last: int, chunk: int) -> str:
    """Cuebot's frame tokens for a chunk ``first..last``."""
    return (command.replace("#FRAME_START#", str(first)).replace("#FRAME_END#", str(last))
            .replace("#IFRAME#", str(first)).replace("#ZFRAME#", f"{first:04d}")
            .replace("#FRAME_CHUNK#", str(chunk)))


def build_outline(plan: FarmPlan, *, show: Optional[str] = None, shot: Optional[str] = None,
                  user: Optional[str] = None, service: str = "shell", windows: Optional[bool] = None):
    """The :class:`outline.Outline` with the cache layers and the dependent render layer.

    ``windows``: quote the layers' commands for Windows workers (default: when this machine is
    Windows, whose paths and executables the commands hold); see :func:`command_line`."""
    ol = outline.Outline(plan.name, frame_range=plan.frame_range,
                         shot=shot or sanitize_name(plan.shots[0].stem),
                         show=show or outline.config.get("outline", "default_show"),
                         user=user, serialize=True)
    caches = []
    for task in plan.prepass:
        command = command_line([plan.colorize_exe] + plan.prepass_args(task), windows)
        layer = ColorizeCommand(layer_name(f"cache_{task.label}"), command=command,
                                range=str(max(task.first, 0)), chunk=1, service=service,
                                **_timeout_arg(plan.prepass_timeout))
        ol.add_layer(layer)
        caches.append(layer)
    for name, frames, chunk, chunk_frames in render_layers(plan):
        command = command_line([plan.render_exe] + plan.render_args(chunk_frames), windows)
        render = ColorizeCommand(name, command=command, range=frames, chunk=chunk,
                                 service=service, **_timeout_arg(plan.task_timeout))
        ol.add_layer(render)
        for layer in caches:
            render.depend_all(layer)
    return ol


#: a render chunk's frames in a layer's command, replaced by Cuebot for each chunk
CHUNK_TOKENS = "#FRAME_START#-#FRAME_END#"


def render_layers(plan: FarmPlan) -> List[Tuple[str, str, int, str]]:
    """(name, frame range, chunk size, the chunk's frames in the command) of the render layers.

    ``render`` takes the whole chunks, its command naming a chunk's frames by Cuebot's tokens
    (:data:`CHUNK_TOKENS`); when the range is not a whole number of chunks its last, shorter one
    is ``render_<A>-<B>``, its chunk size its length: Cuebot ends every chunk ``chunk_size``
    frames after its start, also past the end of the range (a last chunk 1010-1012 of 1001-1010,
    frames the shot may not have).

    A chunk starting before frame 0 is a layer of its own, ``render_<A>-<B>``, whose command
    names its frames literally, on frame 0 of the layer: Cuebot names a layer's frames
    ``%04d-<layer>`` and reads a frame's number back up to the name's first ``-``, which a
    negative frame (``-005-render``) does not have, so such a frame is never dispatched.
    """
    first, last = plan.frames
    size = plan.chunk_size
    layers = []
    while first < 0 and first <= last:
        end = min(first + size - 1, last)
        layers.append((layer_name(f"render_{_frame_range(first, end)}"), "0", 1, f"{first}-{end}"))
        first += size
    if first > last:
        return layers
    whole = (last - first + 1) // size * size
    if whole:
        layers.append(("render", _frame_range(first, first + whole - 1), size, CHUNK_TOKENS))
    if first + whole <= last:
        a = first + whole
        name = layer_name(f"render_{_frame_range(a, last)}") if whole else "render"
        layers.append((name, _frame_range(a, last), last - a + 1, CHUNK_TOKENS))
    return layers


def _frame_range(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}-{last}"


def _timeout_arg(minutes: Optional[float]) -> Dict[str, int]:
    return {} if minutes is None else {"timeout": timeout_whole_minutes(minutes)}


def timeout_notes(plan: FarmPlan, xml: str) -> List[str]:
    """What the submitter should know about the layers' timeouts in the spec ``xml``."""
    notes = []
    asked = [(opt, m) for opt, m in (("--prepass-timeout", plan.prepass_timeout),
                                     ("--task-timeout", plan.task_timeout)) if m is not None]
    if asked and "<timeout>" not in xml:
        spec = outline.config.get("outline", "spec_version")
        notes.append(f"OpenCue's job gets no timeout: the outline job spec version {spec} has no layer "
                     f"timeout (1.10 and later have; see pyoutline's outline.cfg spec_version)")
        return notes
    for opt, minutes in asked:
        whole = timeout_whole_minutes(minutes)
        if whole != minutes:
            notes.append(f"{opt} {minutes:g}: OpenCue layer timeouts are whole minutes; the job's is {whole}")
    return notes


def layer_name(text: str) -> str:
    return sanitize_name(text).replace(".", "_")


@contextlib.contextmanager
def _session_under(folder: str) -> Iterator[None]:
    """pyoutline's session folder and the SHOT variable it sets, scoped to this call."""
    old_dir = outline.config.get("outline", "session_dir")
    old_shot = os.environ.get("SHOT")
    outline.config.set("outline", "session_dir", os.path.abspath(folder))
    try:
        yield
    finally:
        outline.config.set("outline", "session_dir", old_dir)
        if old_shot is None:
            os.environ.pop("SHOT", None)
        else:
            os.environ["SHOT"] = old_shot


def launcher_for(ol, **flags):
    flags.setdefault("nomail", True)
    return outline.cuerun.OutlineLauncher(ol, **flags)


def serialize(launcher, session_dir: str) -> str:
    """Set the outline up (session under ``session_dir``) and return the Cuebot job spec XML."""
    with _session_under(session_dir):
        return launcher.serialize(use_pycuerun=False)


def spec_files(xml: str, name: str) -> Dict[str, str]:
    return {f"{name}.cuejob.xml": xml if xml.endswith("\n") else xml + "\n"}


def dependency_order(ol) -> List:
    """Layers sorted so that every layer comes after the layers it depends on."""
    layers = list(ol.get_layers())
    done: List = []
    pending = layers[:]
    while pending:
        progressed = False
        for layer in list(pending):
            needs = [d.get_depend_on_layer() for d in layer.get_depends()]
            if all(n in done for n in needs):
                done.append(layer)
                pending.remove(layer)
                progressed = True
        if not progressed:
            raise ColorizeError("OpenCue outline has a dependency cycle: "
                                + ", ".join(l.get_name() for l in pending))
    return done


def chunk_starts(layer) -> List[int]:
    """First frame of every chunk of ``layer`` (what Cuebot dispatches as frames)."""
    frames = sorted(set(FileSequence.FrameSet(layer.get_frame_range()).getAll()))
    return frames[::layer.get_chunk_size()]


def run_in_process(ol, session_dir: str) -> List[Tuple[str, int]]:
    """Execute every chunk of every layer here, dependencies first; returns (layer, frame) run."""
    ran = []
    with _session_under(session_dir):
        if ol.get_mode() < outline.constants.OUTLINE_MODE_SETUP:
            ol.setup()
        for layer in dependency_order(ol):
            for frame in chunk_starts(layer):
                layer.execute(frame)
                ran.append((layer.get_name(), frame))
    return ran


def cuebot_hosts() -> List[str]:
    env = os.environ.get("CUEBOT_HOSTS")
    hosts = [h.strip() for h in env.split(",") if h.strip()] if env else ["localhost"]
    return [h if ":" in h else f"{h}:8443" for h in hosts]


def reachable(host_port: str, timeout: float = 2.0) -> bool:
    host, _, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def submit(launcher) -> List[str]:
    """Launch through pycue to the first reachable Cuebot; returns the job names."""
    hosts = cuebot_hosts()
    up = [h for h in hosts if reachable(h)]
    if not up:
        raise ColorizeError(f"cannot submit to OpenCue: no Cuebot answers at {', '.join(hosts)}",
                            hint=SUBMIT_HINT)
    try:
        import opencue
    except ImportError:
        raise ColorizeError("cannot submit to OpenCue: pycue (opencue) is not installed",
                            hint="pip install opencue-pycue") from None
    opencue.Cuebot.setHosts(up)
    try:
        jobs = launcher.launch(use_pycuerun=False)
    except Exception as exc:  # noqa: BLE001 - pycue raises many gRPC/Cue exception types
        raise ColorizeError(f"OpenCue submission failed: {exc}", hint=SUBMIT_HINT) from None
    return [j.name() if hasattr(j, "name") else str(j) for j in jobs]

"""Open Job Description job bundle (AWS Deadline Cloud): ``template.yaml`` + ``parameter_values.yaml``.

The template (``jobtemplate-2023-09`` with the ``TASK_CHUNKING`` extension) has:

* one ``CacheBuild`` step per shot, whose STRING task parameter ``Segment`` lists the
  independent segments (``"1001-1050"``); each task runs
  ``{{Param.ColorizeCommand}} cache build {{Param.ShotFile}} --frames={{Task.Param.Segment}}``
  (``--no-output`` for a plain shot: its render tasks write the frames);
* a ``Render`` step depending on every ``CacheBuild`` step, with a ``CHUNK[INT]`` task parameter
  ``Frame`` over ``{{Param.Frames}}`` in contiguous chunks of ``{{Param.ChunkSize}}`` frames; a
  task receives its chunk as a range (``"1001-1010"``, ``"1011-1011"``) and runs
  ``nuke-colorize render --shot ... --frames=<chunk>`` or ``nuke -x -F <chunk> script.nk``.

With ``--prepass-timeout`` / ``--task-timeout`` (minutes) the ``onRun`` action of each
``CacheBuild`` / ``Render`` step has a ``timeout`` (whole seconds, rounded up): the 2023-09
Action's maximum runtime, after which the worker (or ``openjd run``) cancels the action and the
task fails. Without them the actions have no ``timeout`` (no limit).

Paths are PATH parameters (``dataFlow: NONE``: the bundle assumes storage shared by the workers,
with Deadline Cloud path mapping applied to the parameter values); their values, absolute, are in
``parameter_values.yaml`` (template defaults must be relative to the bundle, so there are none).
Executables are STRING parameters defaulting to ``nuke-colorize`` and ``nuke`` (on Deadline Cloud
the queue environment provides them). ``Frames`` can be narrowed at submission; the segments of
the pre-pass were fixed when the bundle was made (a render frame whose chain was not pre-built is
computed by the render task itself, identically, just later).

Submission: ``deadline bundle submit --yes <bundle>`` (deadline-cloud CLI). Local test run:
``openjd run <bundle>/template.yaml -p Name=Value ...`` (openjd-cli), see :func:`local_run_argv`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ..errors import ColorizeError, InputError
from .plan import FarmPlan, local_executable, timeout_seconds

EXTENSIONS = ["TASK_CHUNKING"]
SPEC_VERSION = "jobtemplate-2023-09"


def _shot_param(i: int) -> str:
    return "ShotFile" if i == 0 else f"ShotFile{i + 1}"


def _build_step_name(plan: FarmPlan, i: int) -> str:
    return "CacheBuild" if len(plan.shots) == 1 else f"CacheBuild{i + 1}"


def _action(command: str, args: List[str], minutes: Optional[float]) -> Dict[str, Any]:
    """An ``onRun`` action; ``timeout`` (seconds) only when there is a limit."""
    action: Dict[str, Any] = {"command": command, "args": args}
    if minutes is not None:
        action["timeout"] = timeout_seconds(minutes)
    return action


def build_template(plan: FarmPlan) -> Dict[str, Any]:
    """The job template as a plain dict (YAML/JSON-serialisable)."""
    params: List[Dict[str, Any]] = []
    for i, shot in enumerate(plan.shots):
        params.append({
            "name": _shot_param(i), "type": "PATH", "objectType": "FILE", "dataFlow": "NONE",
            "description": f"Shot description built by the cache pre-pass ({shot.stem}).",
            "userInterface": {"control": "CHOOSE_INPUT_FILE", "label": f"Shot file {shot.stem}",
                              "fileFilters": [{"label": "Shot description", "patterns": ["*.json"]}]},
        })
    if plan.nuke_script:
        params.append({
            "name": "NukeScript", "type": "PATH", "objectType": "FILE", "dataFlow": "NONE",
            "description": "Nuke script rendered in frame chunks.",
            "userInterface": {"control": "CHOOSE_INPUT_FILE", "label": "Nuke script",
                              "fileFilters": [{"label": "Nuke script", "patterns": ["*.nk"]}]},
        })
    params += [
        {"name": "Frames", "type": "STRING", "default": plan.frame_range, "minLength": 1,
         "description": "Frames to render (contiguous range A-B).",
         "userInterface": {"control": "LINE_EDIT", "label": "Frames"}},
        {"name": "ChunkSize", "type": "INT", "default": plan.chunk_size, "minValue": 1,
         "description": "Frames per render task.",
         "userInterface": {"control": "SPIN_BOX", "label": "Frames per task"}},
        {"name": "ColorizeCommand", "type": "STRING", "default": "nuke-colorize", "minLength": 1,
         "description": "The nuke-colorize executable on the workers.",
         "userInterface": {"control": "LINE_EDIT", "label": "nuke-colorize command"}},
    ]
    if plan.nuke_script:
        params.append({"name": "NukeCommand", "type": "STRING", "default": "nuke", "minLength": 1,
                       "description": "The Nuke executable on the workers.",
                       "userInterface": {"control": "LINE_EDIT", "label": "Nuke command"}})

    steps: List[Dict[str, Any]] = []
    for i, shot in enumerate(plan.shots):
        segments = [t.frames for t in plan.prepass if t.shot == shot.path]
        if not segments:
            continue
        steps.append({
            "name": _build_step_name(plan, i),
            "description": f"Sequential cache pre-pass of {shot.stem}: one task per independent segment.",
            "parameterSpace": {"taskParameterDefinitions": [
                {"name": "Segment", "type": "STRING", "range": segments}]},
            "script": {"actions": {"onRun": _action(
                "{{Param.ColorizeCommand}}",
                plan.cache_build_args("{{Param.%s}}" % _shot_param(i), "{{Task.Param.Segment}}"),
                plan.prepass_timeout)}},
        })
    render_args = plan.render_args("{{Task.Param.Frame}}")
    if plan.nuke_script:
        render_args[-1] = "{{Param.NukeScript}}"
        command = "{{Param.NukeCommand}}"
    else:
        render_args[render_args.index("--shot") + 1] = "{{Param.ShotFile}}"
        command = "{{Param.ColorizeCommand}}"
    steps.append({
        "name": "Render",
        "description": "Chunked render reading the shot cache.",
        "dependencies": [{"dependsOn": s["name"]} for s in steps],
        "parameterSpace": {"taskParameterDefinitions": [{
            "name": "Frame", "type": "CHUNK[INT]", "range": "{{Param.Frames}}",
            "chunks": {"defaultTaskCount": "{{Param.ChunkSize}}", "rangeConstraint": "CONTIGUOUS"}}]},
        "script": {"actions": {"onRun": _action(command, render_args, plan.task_timeout)}},
    })
    return {
        "specificationVersion": SPEC_VERSION,
        "extensions": list(EXTENSIONS),
        "name": plan.name,
        "description": "nuke-colorize: cache pre-pass per segment, then chunked render.",
        "parameterDefinitions": params,
        "steps": steps,
    }


def parameter_values(plan: FarmPlan) -> Dict[str, Any]:
    """``parameter_values.yaml`` content (Deadline Cloud bundle format)."""
    values = [{"name": _shot_param(i), "value": shot.path} for i, shot in enumerate(plan.shots)]
    if plan.nuke_script:
        values.append({"name": "NukeScript", "value": plan.nuke_script})
    values += [{"name": "Frames", "value": plan.frame_range},
               {"name": "ChunkSize", "value": plan.chunk_size}]
    if plan.colorize_exe != "nuke-colorize":
        values.append({"name": "ColorizeCommand", "value": plan.colorize_exe})
    if plan.nuke_script and plan.nuke_exe != "nuke":
        values.append({"name": "NukeCommand", "value": plan.nuke_exe})
    return {"parameterValues": values}


def validate(template: Dict[str, Any], values: Optional[Dict[str, Any]] = None,
             bundle_dir: Optional[str] = None) -> bool:
    """Check the template with openjd-model, and that a job can be created from it with ``values``.

    Returns False (nothing checked) when openjd-model is not installed; raises
    :class:`ColorizeError` naming the problem when the template or the values are invalid.
    """
    try:
        from openjd.model import (DecodeValidationError, create_job, decode_job_template,
                                  preprocess_job_parameters)
    except ImportError:
        return False
    try:
        decoded = decode_job_template(template=template, supported_extensions=EXTENSIONS)
        if values is not None:
            given = {v["name"]: str(v["value"]) for v in values.get("parameterValues", [])}
            folder = Path(bundle_dir or os.getcwd())
            pre = preprocess_job_parameters(job_template=decoded, job_parameter_values=given,
                                            job_template_dir=folder, current_working_dir=folder)
            create_job(job_template=decoded, job_parameter_values=pre)
    except (DecodeValidationError, ValueError) as exc:
        raise ColorizeError(f"the OpenJD job template is invalid: {exc}",
                            hint="report this with the shot file attached") from None
    return True


def dump(doc: Dict[str, Any]) -> str:
    """YAML text when PyYAML is available, else JSON (both accepted by OpenJD and Deadline Cloud)."""
    try:
        import yaml
    except ImportError:
        return json.dumps(doc, indent=2) + "\n"
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=100)


def bundle_files(plan: FarmPlan) -> Dict[str, str]:
    """{file name: text} of the bundle; validated with openjd-model when it is installed."""
    template = build_template(plan)
    values = parameter_values(plan)
    validate(template, values)
    ext = "yaml" if _has_yaml() else "json"
    return {f"template.{ext}": dump(template), f"parameter_values.{ext}": dump(values)}


def _has_yaml() -> bool:
    try:
        import yaml  # noqa: F401
    except ImportError:
        return False
    return True


def template_path(bundle_dir: str) -> str:
    for name in ("template.yaml", "template.json"):
        path = os.path.join(bundle_dir, name)
        if os.path.isfile(path):
            return path
    raise InputError("no template.yaml or template.json in the bundle", file=bundle_dir)


def read_parameter_values(bundle_dir: str) -> Dict[str, Any]:
    """{name: value} from the bundle's parameter_values file (empty when there is none)."""
    for name in ("parameter_values.yaml", "parameter_values.json"):
        path = os.path.join(bundle_dir, name)
        if os.path.isfile(path):
            with open(path, "r", encoding="utf-8") as fh:
                text = fh.read()
            if name.endswith(".yaml"):
                import yaml
                doc = yaml.safe_load(text)
            else:
                doc = json.loads(text)
            return {v["name"]: v["value"] for v in (doc or {}).get("parameterValues", [])}
    return {}


def find_tool(name: str) -> Optional[str]:
    """``name`` on PATH, else beside the running Python (a venv's bin folder), else None."""
    found = local_executable(name)
    return found if os.path.isabs(found) else None


def local_run_argv(bundle_dir: str, overrides: Optional[Dict[str, Any]] = None,
                   openjd: Optional[str] = None) -> List[str]:
    """``openjd run`` command line running every step of the bundle on this machine, in order."""
    exe = openjd or find_tool("openjd")
    if not exe:
        raise ColorizeError("cannot run the bundle locally: openjd-cli is not installed",
                            hint="pip install openjd-cli (or nuke-colorize[farm])")
    values = read_parameter_values(bundle_dir)
    values.update(overrides or {})
    argv = [exe, "run", template_path(bundle_dir)]
    for k, v in values.items():
        argv += ["-p", f"{k}={v}"]
    return argv


def submit_argv(bundle_dir: str, extra: Sequence[str] = ()) -> List[str]:
    """``deadline bundle submit`` command line (deadline-cloud CLI)."""
    return ["deadline", "bundle", "submit", "--yes", *extra, bundle_dir]

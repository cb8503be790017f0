"""Farm rendering on real schedulers: a cache pre-pass per independent segment, then a chunked render.

* :mod:`.plan` - the scheduler-independent job shape (:class:`~.plan.FarmPlan`, :func:`~.plan.build_plan`);
* :mod:`.shotinfo` - the shot facts the job shape depends on (frames, segments, output);
* :mod:`.nkscan` - shot files, frame range and Nuke version of a Nuke script, without Nuke;
* :mod:`.openjd` - Open Job Description bundle (AWS Deadline Cloud), validated with openjd-model;
* :mod:`.deadline` - Deadline 10 job-info/plugin-info files and deadlinecommand submission;
* :mod:`.opencue` - OpenCue outline (opencue-pyoutline), spec XML, in-process run, pycue launch.

The CLI is ``nuke-colorize farm {openjd,deadline,opencue}`` (:mod:`nuke_colorize.commands.farm`).
"""

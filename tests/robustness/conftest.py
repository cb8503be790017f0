"""Fixtures of the robustness suite: one base shot (with a real earlier render) per session."""
from __future__ import annotations

import pytest

import rb_harness as hx


@pytest.fixture(scope="session")
def robust_base(tmp_path_factory):
    """The base shot every row copies (see :mod:`rb_harness`)."""
    return hx.build_base(tmp_path_factory.mktemp("robust-base"))

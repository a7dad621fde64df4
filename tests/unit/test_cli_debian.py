"""services/cli/debian.py: what `make` installs on a fresh machine (Redis, the browser)."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from services.cli import debian


def test_present_binaries_need_no_install(monkeypatch):
    def no_apt(*args, **kwargs):
        raise AssertionError("apt-get must not run when every binary is present")

    monkeypatch.setattr(subprocess, "run", no_apt)
    paths = debian.ensure_binaries({"sh": "dash"}, "the test")
    assert paths == {"sh": shutil.which("sh")}


def test_missing_binary_without_root_names_the_package(monkeypatch):
    monkeypatch.setattr(debian.os, "geteuid", lambda: 1000)
    binaries = {"sh": "dash", "ser-no-such-binary": "ser-no-such-package"}
    assert debian.missing(binaries) == {"ser-no-such-binary": "ser-no-such-package"}
    with pytest.raises(RuntimeError, match="apt-get install ser-no-such-package"):
        debian.ensure_binaries(binaries, "the test")


def test_failed_install_refreshes_the_index_once_then_reports(monkeypatch):
    calls: list[list[str]] = []

    def fake_run(argv, check=False, **kwargs):
        calls.append(list(argv))
        return subprocess.CompletedProcess(argv, 0 if argv[1] == "update" else 100)

    monkeypatch.setattr(debian.os, "geteuid", lambda: 0)
    monkeypatch.setattr(debian.shutil, "which", lambda b: "/usr/bin/apt-get" if b == "apt-get" else None)
    monkeypatch.setattr(debian.subprocess, "run", fake_run)
    with pytest.raises(RuntimeError, match="still not on PATH"):
        debian.ensure_binaries({"chromium": "chromium"}, "the test")
    assert [c[1] for c in calls] == ["install", "update", "install"]

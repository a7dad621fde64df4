"""Install missing Debian packages for `make` on a fresh machine (Redis, the browser for the web-view tests).

Only as root with apt-get; otherwise the caller gets a message that names the package to install, because a
half-provisioned machine that fails later, inside a test, is harder to diagnose.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping


def missing(binaries: Mapping[str, str]) -> dict[str, str]:
    """The entries of ``{binary: package}`` whose binary is not on PATH."""
    return {binary: package for binary, package in binaries.items() if not shutil.which(binary)}


def ensure_binaries(binaries: Mapping[str, str], purpose: str) -> dict[str, str]:
    """Make every binary of ``{binary: debian package}`` available; returns ``{binary: path}``.

    apt-get runs once for all missing packages (with an index refresh only when the first try fails, so a
    machine with a fresh index installs offline-fast)."""
    absent = missing(binaries)
    if absent:
        packages = sorted(set(absent.values()))
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            raise RuntimeError(f"{purpose} needs {', '.join(sorted(absent))}; install the Debian packages "
                               f"({'apt-get install ' + ' '.join(packages)}) or put them on PATH")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-qq", *packages]
        if subprocess.run(install, env=env, stdout=subprocess.DEVNULL).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
            subprocess.run(install, check=True, env=env)
        still = missing(binaries)
        if still:
            raise RuntimeError(f"installed {' '.join(packages)} but {', '.join(sorted(still))} is still not on PATH")
    return {binary: shutil.which(binary) or "" for binary in binaries}


REDIS = {"redis-server": "redis-server"}
BROWSER = {"chromium": "chromium", "chromedriver": "chromium-driver"}

"""The README is the contract: its set-up commands exist and it documents every setting."""
from __future__ import annotations

import re

from shared.settings import ENV_DOCS
from tests.helpers import REPO


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one():
    readme = (REPO / "README.md").read_text()
    head = readme[:800]
    assert "make demo" in head and "make test" in head
    assert re.search(r"^\s*make test\s*$", (REPO / ".ci" / "run").read_text(), re.M)
    targets = set(re.findall(r"^([a-z-]+):", (REPO / "Makefile").read_text(), re.M))
    assert {"setup", "proto", "demo", "test", "up", "down", "lint", "bench", "train-default"} <= targets


def test_readme_documents_every_setting():
    readme = (REPO / "README.md").read_text()
    missing = [key for key in ENV_DOCS if f"`{key}`" not in readme]
    assert not missing, f"README configuration table lacks {missing}"

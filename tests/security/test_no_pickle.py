"""No pickle loading of anything a user can supply: a source scan of shared/ and services/, and Celery
accepting JSON messages only (a pickled task message would run code in the worker)."""
from __future__ import annotations

import re

from shared.settings import Settings
from tests.helpers import REPO

SCANNED = ("shared", "services")
FORBIDDEN = {
    "pickle.load": re.compile(r"\b(c?pickle|cloudpickle|dill)\.loads?\s*\("),
    "unpickler": re.compile(r"\bUnpickler\s*\("),
    "allow_pickle=True": re.compile(r"allow_pickle\s*=\s*True"),
    "joblib.load": re.compile(r"\bjoblib\.load\s*\("),
    "pandas read_pickle": re.compile(r"\bread_pickle\s*\("),
}
TORCH_LOAD = re.compile(r"\btorch\.load\s*\(")


def call_text(source: str, start: int) -> str:
    """The text of a call from its opening parenthesis to the matching close."""
    depth = 0
    for i in range(start, len(source)):
        depth += {"(": 1, ")": -1}.get(source[i], 0)
        if depth == 0 and source[i] == ")":
            return source[start : i + 1]
    return source[start:]


def violations(source: str) -> list[str]:
    found = [name for name, pattern in FORBIDDEN.items() if pattern.search(source)]
    for match in TORCH_LOAD.finditer(source):
        if not re.search(r"weights_only\s*=\s*True", call_text(source, match.end() - 1)):
            found.append(f"torch.load without weights_only=True at offset {match.start()}")
    return found


def test_the_scanner_catches_every_forbidden_form():
    for bad in ("pickle.load(f)", "x = pickle.loads(b)", "np.load(p, allow_pickle=True)", "joblib.load(p)",
                "torch.load(p)", "torch.load(p, map_location='cpu')", "torch.load(\n  p,\n  weights_only=False)",
                "pd.read_pickle(p)", "dill.load(f)", "pickle.Unpickler(f)"):
        assert violations(bad), bad
    for ok in ("torch.load(p, weights_only=True)", "torch.load(\n  open(p, 'rb'),\n  map_location=dev, weights_only=True)",
               "np.load(p)", "json.load(f)", "# pickle is never used"):
        assert not violations(ok), ok


def test_no_pickle_loading_in_the_source_tree():
    offenders = {}
    for folder in SCANNED:
        for path in sorted((REPO / folder).rglob("*.py")):
            found = violations(path.read_text(encoding="utf-8"))
            if found:
                offenders[str(path.relative_to(REPO))] = found
    assert not offenders, f"pickle loading found (use safetensors/JSON, torch.load(weights_only=True)): {offenders}"


def test_celery_accepts_json_messages_only():
    from services.jobs.app import make_app

    conf = make_app(Settings.from_env(env={})).conf
    assert list(conf.accept_content) == ["json"] and conf.task_serializer == "json" == conf.result_serializer

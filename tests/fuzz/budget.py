"""How much fuzzing a run does: a bounded default for CI, more by hand (SER_FUZZ_EXAMPLES=5000)."""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("SER_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=os.environ.get("SER_FUZZ_RANDOM", "") == "",
                suppress_health_check=list(HealthCheck), database=None)

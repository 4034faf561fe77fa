"""``idxadvisor check``: linter-style checks that flag the querysets ``analyze`` proposes an
index for, in the files a commit changes.

* :mod:`~idxadvisor.checks.registry` — the registry (codes ``IDX000``…), filled by decorator;
* :mod:`~idxadvisor.checks.rules` — one check per module, documented by its docstring;
* :mod:`~idxadvisor.checks.proposals` — the yardstick: the advisor's own recommendations;
* :mod:`~idxadvisor.checks.runner` — plan, run, place findings in the code;
* :mod:`~idxadvisor.checks.suppression` — inline comments, configured codes, baselines.

>>> sorted(CHECKS)
['IDX000', 'IDX001', 'IDX002', 'IDX003', 'IDX004']
>>> CHECKS["IDX001"].name
'unindexed-filter'
"""

from __future__ import annotations

from idxadvisor.checks.registry import (
    CHECKS,
    Check,
    CheckContext,
    Problem,
    Proposal,
    load_rules,
    register,
)
from idxadvisor.checks.runner import (
    CheckPlan,
    CheckRequest,
    CheckResult,
    Finding,
    findings_for,
    plan,
    run,
    run_checks,
    subject,
    write_baseline,
)

load_rules()

__all__ = [
    "CHECKS",
    "Check",
    "CheckContext",
    "CheckPlan",
    "CheckRequest",
    "CheckResult",
    "Finding",
    "Problem",
    "Proposal",
    "findings_for",
    "plan",
    "register",
    "run",
    "run_checks",
    "subject",
    "write_baseline",
]

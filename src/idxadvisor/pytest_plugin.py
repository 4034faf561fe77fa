"""pytest plugin: ``pytest --idxadvisor-capture=FILE`` records the queries of the test run.

The same workload file as ``idxadvisor capture -- pytest``, for teams who prefer a pytest option
(e.g. in ``addopts``). With pytest-xdist every worker appends to the file too. Queries of
subprocesses the tests start are not recorded; use ``idxadvisor capture`` for those.

Without the option the plugin only registers it: no Django import, no hooks.
"""

from __future__ import annotations

import os
from typing import Any

OPTION = "--idxadvisor-capture"


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("idxadvisor", "idxadvisor index advice")
    group.addoption(
        OPTION,
        dest="idxadvisor_capture",
        metavar="FILE",
        default=None,
        help="record every SQL statement Django runs during the tests in FILE (JSON Lines), "
        "for `idxadvisor analyze --workload FILE`. An existing capture file is replaced.",
    )


def pytest_configure(config: Any) -> None:
    output = config.getoption("idxadvisor_capture", default=None)
    if not output:
        return
    from idxadvisor.sources.capture import runtime

    if os.environ.get(runtime.ENV_OUTPUT):
        # Already under `idxadvisor capture`: that recorder sees everything; a second would count
        # every statement twice.
        return
    path = os.path.abspath(output)
    if not hasattr(config, "workerinput"):  # the xdist controller (or a plain run) owns the file
        from idxadvisor.errors import UsageError
        from idxadvisor.sources.capture.workload_file import create_workload_file

        try:
            create_workload_file(path)
        except UsageError as exc:
            import pytest

            raise pytest.UsageError(f"{OPTION}: {exc}") from exc
    runtime.start(path)


def pytest_unconfigure(config: Any) -> None:
    if config.getoption("idxadvisor_capture", default=None):
        from idxadvisor.sources.capture import runtime

        runtime.flush()

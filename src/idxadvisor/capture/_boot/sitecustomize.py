"""Turns on query capture in every Python process that ``idxadvisor capture`` starts.

``idxadvisor capture`` prepends this directory to ``PYTHONPATH`` and sets
``IDXADVISOR_CAPTURE_FILE``. Python's ``site`` module imports ``sitecustomize`` at start-up, so
the command, and every Python process it spawns or forks, captures without any change to the
user's project. This file:

1. takes its directory off ``sys.path`` again (the user's program sees its usual path);
2. runs the ``sitecustomize`` this one shadows, if there is one (Debian's, a venv's, the user's);
3. loads ``../runtime.py`` by path, so it works even when the command's interpreter does not have
   idxadvisor installed, and starts it. A failure prints one warning and never stops the command.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
RUNTIME_MODULE = "_idxadvisor_capture_runtime"


def _same_dir(entry: str) -> bool:
    try:
        return os.path.abspath(entry or os.curdir) == _HERE
    except (TypeError, ValueError):
        return False


def _chain_to_shadowed_sitecustomize() -> None:
    import importlib.machinery
    import importlib.util

    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", sys.path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # what site.py does for a broken sitecustomize
        sys.stderr.write(f"Error in sitecustomize; set PYTHONVERBOSE for traceback:\n"
                         f"{type(exc).__name__}: {exc}\n")


def load_runtime():  # type: ignore[no-untyped-def]
    """The recorder module, loaded once per process under a private name."""
    import importlib.util

    loaded = sys.modules.get(RUNTIME_MODULE)
    if loaded is not None:
        return loaded
    path = os.path.join(os.path.dirname(_HERE), "runtime.py")
    spec = importlib.util.spec_from_file_location(RUNTIME_MODULE, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[RUNTIME_MODULE] = module
    spec.loader.exec_module(module)
    return module


def _boot() -> None:
    sys.path[:] = [entry for entry in sys.path if not _same_dir(entry)]
    _chain_to_shadowed_sitecustomize()
    output = os.environ.get("IDXADVISOR_CAPTURE_FILE")
    if not output:
        return
    try:
        load_runtime().start(output)
    except Exception as exc:
        sys.stderr.write(f"idxadvisor capture: warning: capture is off in this process: {exc}\n")


_boot()

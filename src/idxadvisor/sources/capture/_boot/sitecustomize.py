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

# Not `typing.TYPE_CHECKING`: importing typing at every interpreter start costs milliseconds.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec
    from types import ModuleType

_HERE = os.path.dirname(os.path.abspath(__file__))
RUNTIME_MODULE = "_idxadvisor_capture_runtime"


def _same_dir(entry: str) -> bool:
    try:
        return os.path.abspath(entry or os.curdir) == _HERE
    except (TypeError, ValueError):
        return False


def _chain_to_shadowed_sitecustomize() -> None:
    from importlib.machinery import PathFinder

    spec = PathFinder.find_spec("sitecustomize", sys.path)
    if spec is None or spec.loader is None:
        return
    try:
        _execute(spec)
    except Exception as exc:  # what site.py does for a broken sitecustomize
        sys.stderr.write(
            f"Error in sitecustomize; set PYTHONVERBOSE for traceback:\n"
            f"{type(exc).__name__}: {exc}\n"
        )


def _execute(spec: ModuleSpec) -> ModuleType:
    """importlib.util.module_from_spec + exec, without importing importlib.util (~3 ms)."""
    module = type(sys)(spec.name)
    module.__spec__ = spec
    module.__loader__ = spec.loader
    if spec.origin:
        module.__file__ = spec.origin
    sys.modules[spec.name] = module
    assert spec.loader is not None  # both callers pass a spec with a loader
    spec.loader.exec_module(module)
    return module


def load_runtime() -> ModuleType:
    """The recorder module, loaded once per process under a private name."""
    loaded = sys.modules.get(RUNTIME_MODULE)
    if loaded is not None:
        return loaded
    from importlib.machinery import ModuleSpec, SourceFileLoader

    path = os.path.join(os.path.dirname(_HERE), "runtime.py")
    loader = SourceFileLoader(RUNTIME_MODULE, path)
    spec = ModuleSpec(RUNTIME_MODULE, loader, origin=path)
    spec.has_location = True
    return _execute(spec)


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

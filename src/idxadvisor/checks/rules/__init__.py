"""One check per module, each registered with :func:`idxadvisor.checks.registry.register`.

Adding a check is one module here: its docstring (why it matters, a docs link) is what
``idxadvisor check --explain CODE`` prints, and its tests go in ``tests/checks/test_<module>.py``.
"""

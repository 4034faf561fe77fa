"""Capture sources: where the workload's statements come from.

``static`` (querysets in the source), ``sqlfile`` (.sql workload files), ``runtime`` (captured
while code runs). Each yields :class:`idxadvisor.workload.Statement` and
:class:`idxadvisor.workload.Skipped`.
"""

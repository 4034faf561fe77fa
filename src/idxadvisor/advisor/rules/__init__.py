"""The advisor's rules, one pure function per module: :mod:`.composite` (the B-tree keys),
:mod:`.partial` (its ``WHERE``), :mod:`.trigram`, :mod:`.covering`, :mod:`.brin` and
:mod:`.unique`; :mod:`idxadvisor.advisor` applies them in order."""

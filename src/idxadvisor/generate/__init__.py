"""``idxadvisor generate``: the proposals as concurrent-index migrations and ``Meta`` edits
(:mod:`.plan` decides, :mod:`.writer` writes every file or none)."""

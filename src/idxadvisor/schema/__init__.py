"""The schema stage: what exists, from the Django models (:mod:`.models`) and the live catalog
(:mod:`.catalog`)."""

"""Access rules owned by the data owner, and their evaluation: deny by default.

A rule lets one requesting agency (or every agency of a kind, optionally within one
jurisdiction) read given fields or ask given predicates of one dataset, for one application
item, under one legal basis, for a validity period. It exists only once the owning agency
approved it, and a revocation holds from the next request.
"""

"""Synthetic but realistic demo data: the registries of the owning agencies of several
jurisdictions, each in its own store with its own legacy schema.

Nothing here names a real person. The data is deterministic (same seed and size, same bytes),
so demos, tests and benchmarks talk about the same people; see :mod:`.registries`.
"""

"""Consolidation for merged governments (縣市合併): read the two legacy systems, map them to
the common standard, report data quality, link duplicate people and parcels, resolve
conflicts field by field with lineage, and load one answer into the merged city's store.

Run with ``onceonly consolidate run PLAN`` (see :mod:`onceonly.consolidate.plan`).
"""

"""Pure domain values of Taiwan's e-government: national IDs, ROC-era dates, addresses.

No I/O and no database here, so every capability (demo data, consolidation, exchange) can
validate and normalise the same way, and the rules can be property-tested in isolation.
"""

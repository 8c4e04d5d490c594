"""The audit log: every access to someone's data is one entry in an append-only hash chain.

Each entry's hash covers its content and the previous entry's hash, so anyone holding the log
(or an export of it) can check that nothing was altered, removed, reordered or inserted
(:mod:`onceonly.audit.verify`), without trusting the server that wrote it.
"""

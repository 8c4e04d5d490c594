"""The federated demo: a CA, a directory and several nodes on one machine, built from the demo's
registries (``onceonly demo --federated``, ``onceonly federation demo``)."""

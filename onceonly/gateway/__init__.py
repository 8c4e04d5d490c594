"""The owner gateway: the owning agency's side of the exchange, next to its data.

Like X-Road's security server for its members, it runs at the agency (``onceonly gateway
serve``), answers only requests signed by the platform node over mutual TLS, re-checks the
owner's own rules in its own database, asks the owner's connectors, minimises, signs with the
owner's key (kept in the gateway's data directory, mode 0600, never sent anywhere) and audits
what it answered. The platform node keeps only the public key (:mod:`.links`), and reaches the
gateway as one more way of answering a piece (:class:`onceonly.exchange.fanout.RemoteNodes`).
See ``docs/gateway.md``.
"""

"""Tell-us-once (通報): life events reach every subscribed agency, reliably, in order.

A change is recorded once (:func:`onceonly.notify.events.record_life_event`); the event and
one outbox row per approved matching subscription are written in the caller's transaction,
and the worker (:mod:`onceonly.notify.worker`) or the pull feed delivers them.
"""

"""Moved to :mod:`onceonly.domain.names` (production code may use it; it may not import the
demo); kept so older imports keep working."""

from onceonly.domain.names import SURNAMES, given_name, indigenous_name, surname

__all__ = ["SURNAMES", "given_name", "indigenous_name", "surname"]

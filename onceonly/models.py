"""Imports every capability's tables so ``Base.metadata`` is complete.

Alembic's autogenerate, the migration test and ``create_all`` in tests all rely on this list;
a capability that adds tables adds its module here.
"""

from onceonly.db import Base

__all__ = ["Base"]

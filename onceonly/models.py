"""Imports every capability's tables so ``Base.metadata`` is complete.

Alembic's autogenerate, the migration test and ``create_all`` in tests all rely on this list;
a capability that adds tables adds its module here.
"""

from onceonly import cache_versions  # noqa: F401
from onceonly.accounts import models as accounts_models  # noqa: F401
from onceonly.audit import models as audit_models  # noqa: F401
from onceonly.cases import models as cases_models  # noqa: F401
from onceonly.catalog import models as catalog_models  # noqa: F401
from onceonly.citizens import models as citizens_models  # noqa: F401
from onceonly.consolidate import models as consolidate_models  # noqa: F401
from onceonly.db import Base
from onceonly.exchange import keys as exchange_keys  # noqa: F401
from onceonly.exchange import pdf as exchange_pdf  # noqa: F401
from onceonly.federation import models as federation_models  # noqa: F401
from onceonly.notify import models as notify_models  # noqa: F401
from onceonly.open311 import models as open311_models  # noqa: F401
from onceonly.policy import models as policy_models  # noqa: F401
from onceonly.stats import models as stats_models  # noqa: F401
from onceonly.survey import models as survey_models  # noqa: F401

__all__ = ["Base"]

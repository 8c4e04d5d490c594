"""Effectiveness statistics: the platform measures itself, counted by the clerk's workplace
and by the citizen's registration, with small cells suppressed for publication."""

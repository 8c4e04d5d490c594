"""Accounts and roles: who may use the platform, how they prove it, and what they may do.

People sign in with a password and get a server-side session; agency systems use API tokens.
Every route outside :data:`onceonly.web.public_routes.PUBLIC_ROUTES` requires one of them.

Routes, the CLI and other capabilities reach the account tables only through the modules
here, one idea each: the accounts (:mod:`.users`), who is making a request
(:mod:`.principal`), signing in (:mod:`.signin`), browser sessions (:mod:`.sessions`), API
tokens (:mod:`.api_tokens`), the rules a password follows (:mod:`.password_rules`), setting
and changing one (:mod:`.password_changes`), what ``account.*`` audit entries share
(:mod:`.audit_entries`) and the demo's accounts (:mod:`.demo_accounts`). Their functions take
an open SQLAlchemy session and never commit: the caller's transaction decides (for the one
exception, see :mod:`.signin`).
"""

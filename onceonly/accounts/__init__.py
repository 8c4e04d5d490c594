"""Accounts and roles: who may use the platform, how they prove it, and what they may do.

People sign in with a password and get a server-side session; agency systems use API tokens.
Every route outside :data:`onceonly.web.public_routes.PUBLIC_ROUTES` requires one of them.
"""

"""The citizen portal: sign in with the citizen digital certificate (自然人憑證), see who
looked at one's data and why, flag an access, grant and revoke consent, preview evidence
before a clerk may use it, and download proofs that the audit log holds each access."""

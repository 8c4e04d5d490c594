"""Evidence exchange: the clerk asks the owning agency, the owner answers with signed, minimised
evidence (a record holding only the allowed fields, or just a yes/no predicate answer), and
the access is written to the audit log before anything is released."""

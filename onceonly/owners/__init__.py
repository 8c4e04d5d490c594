"""The data owner's pages: access rules on its datasets, decisions on them, and their use."""

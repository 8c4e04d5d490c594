"""onceonly: the clerk fetches the evidence, the citizen brings no paper."""

__version__ = "0.1.0"

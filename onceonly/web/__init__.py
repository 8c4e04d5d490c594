"""The HTTP face of onceonly: the app factory, shared dependencies, templates and error pages."""

"""Open311 GeoReport v2: service requests from apps and the 1999 hotline, and API keys."""

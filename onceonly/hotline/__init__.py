"""The 1999 citizen hotline: intake pages for hotline staff over the Open311 requests."""

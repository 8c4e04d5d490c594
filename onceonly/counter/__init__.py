"""The clerk's counter pages: queue, cases, evidence, relay, decisions."""

"""Counter workflow (一處收件、全程服務): cases, their evidence, relay between agencies (傳遞),
the timeline of every step and the citizen's updates."""

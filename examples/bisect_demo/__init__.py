"""A bisect demo: a triage agent whose prompt has 12 versions, one of which breaks a handoff."""

"""Signed artifacts from the hub: announcements, downloads, A/B slots, health checks and rollback."""

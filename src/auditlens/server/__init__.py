"""auditlens.server."""

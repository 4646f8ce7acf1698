"""auditlens.mirror."""

"""auditlens.core."""

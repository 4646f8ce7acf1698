"""auditlens.export."""

"""auditlens.client."""

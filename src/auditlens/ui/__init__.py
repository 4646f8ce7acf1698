"""auditlens.ui."""

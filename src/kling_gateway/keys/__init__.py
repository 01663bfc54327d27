"""API keys: bearer secrets of users, kept only as SHA-256 hashes, and the lookup that authenticates them."""

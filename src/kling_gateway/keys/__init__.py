"""API keys: a user's `sk-` bearer secret (kept only as its SHA-256) and access-key/secret-key pair for Kling-style
JWTs, with the lookups that authenticate them."""

"""`ENGINE: core.db.backends.postgresql`: Django's PostgreSQL backend, hardened."""

"""The data layer: a Django PostgreSQL backend with an adaptive, fleet-aware pool."""

"""WidgetWorld's infrastructure: the database backend, health, metrics, local PostgreSQL.

Nothing here knows about the shop; `catalog` builds on it, never the reverse.
"""

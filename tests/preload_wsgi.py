"""The WSGI app plus a query at import: what a preloading gunicorn master does wrong."""

from django.db import connection

from widgetworld.wsgi import application

with connection.cursor() as cursor:
    cursor.execute("SELECT 1")

__all__ = ["application"]

"""The WidgetWorld project: settings, URLs, WSGI entry point and the local stack."""

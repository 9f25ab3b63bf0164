"""Logs the person on call can follow: one request id from the edge to every line."""

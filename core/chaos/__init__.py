"""Endpoints that misbehave on purpose, for chaos tests, the alert drill and benchmarks.

Mounted only when `WIDGETWORLD_CHAOS_ENDPOINTS` is on, which settings refuse unless
`WIDGETWORLD_ENV=test`.
"""

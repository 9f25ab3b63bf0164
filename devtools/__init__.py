"""Development and operations tooling: the local stack, our own servers, the alert drill.

Nothing here ships in the production image, and nothing in `core/`,
`catalog/` or `widgetworld/` imports it.
"""

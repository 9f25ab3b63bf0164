"""Development and operations tooling: the local stack, our own servers, the alert drill,
the capacity check and the Kubernetes manifests' checks.

Nothing here ships in the production image, and nothing in `core/`,
`catalog/` or `widgetworld/` imports it; it may use dev-only packages
(PyYAML, kubernetes-validate).
"""

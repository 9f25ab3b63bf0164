"""The status page and site banner: shoppers told what is wrong, from the app's own signals.

A Django app of its own (label `status`) inside `core/`: it reads only
infrastructure (request outcomes, the pool's events, readiness, Alertmanager)
and never the catalog, so it keeps working, and keeps saying so, while the
shop itself cannot. docs/communication-plan.md is the human side of it.
"""

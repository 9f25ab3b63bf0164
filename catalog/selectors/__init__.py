"""Reads that pages and the API share (selectors, in HackSoft's Django Styleguide's words).

A selector owns a query: it takes validated parameters and returns plain
results, and raises domain exceptions that say what is wrong, never an HTTP
status. Views and the API only parse (catalog/forms.py), call a selector,
render, and map its exceptions to responses. Writes live in catalog/services/.
"""

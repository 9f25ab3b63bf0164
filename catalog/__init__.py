"""The storefront shoppers use: categories, widgets, search, cart and checkout."""

"""Business operations that must be consistent, kept out of the views that call them."""

"""What a request gets from the infrastructure when the database cannot serve it."""

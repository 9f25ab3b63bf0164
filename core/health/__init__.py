"""Health endpoints for load balancers, orchestrators and the on-call person."""

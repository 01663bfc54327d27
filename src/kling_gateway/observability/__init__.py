"""What the gateway tells its operator: Prometheus metrics every part reports through, counted only once what they
count is committed."""

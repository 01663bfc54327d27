"""Sync: bring in-flight tasks forward by polling the upstream (batched) and taking its callbacks."""

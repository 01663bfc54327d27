"""Client callbacks: an outbox row per status change of a task, delivered at least once, in order."""

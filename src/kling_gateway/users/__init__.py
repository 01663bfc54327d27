"""Users: accounts with a balance that own keys and tasks."""

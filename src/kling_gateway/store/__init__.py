"""The gateway's database: tables, engine set-up, migrations and the repositories that hold every query."""

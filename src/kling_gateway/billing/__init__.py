"""Money: holds, charges, releases and top-ups in an append-only ledger, in exact integer micro-yuan."""

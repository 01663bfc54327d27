"""What the operator asks of a running gateway: is it ready (`/readyz`, `kling-gateway status`), and what the store
says now (the gauges of `/metrics`), told the same whichever process is asked."""

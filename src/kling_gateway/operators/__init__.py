"""The people who run the gateway: their accounts, passwords and the audit log of every change they make."""

"""The gateway's web pages: the operator console (`/console/`) and the customer portal (`/portal/`), rendered on
the server over the same services as the API, with signed sessions, CSRF tokens and pages for every error."""

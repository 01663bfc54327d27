"""The operator's model catalog: every model the gateway knows, which are retired or disabled, and new Kling
models the operator added as like a known one, until a release knows them."""

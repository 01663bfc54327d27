"""Tasks: submit, query and list; the task state machine and id resolution."""

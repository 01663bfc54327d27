"""Shared knowledge of the Kling API: what a valid request is and what a task costs."""

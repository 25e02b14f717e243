"""Metrics and logging, on the lowest floor because every room uses them.

May import: nothing of Settle's; prometheus-client and the standard library."""

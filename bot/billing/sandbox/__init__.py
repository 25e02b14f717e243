"""The built-in sandbox provider: a small payment company in Settle's own database (its own tables,
models.py), with Stripe's test cards, a YAML loader, and the operations its pages and CLI use."""

"""What the listeners share: every id (ids), typed references in buttons and private_metadata (refs),
one error handler (errors), the services they are given (services), and the click-first gate."""

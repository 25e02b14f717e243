"""The domain's ports filled for Slack: the modal tracker (the money service's events, which views
show what), kept in its own table."""

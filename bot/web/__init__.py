"""The HTTP side of `settle serve`: Slack's request URL, health check and the sandbox's pages."""

"""The gateway: the service's only listener. Every route is one bus message."""

# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The gateway: the service's only listener. Every route is one bus message.

One way in keeps the attack surface in one place: authentication, the capability each
route requires, limits, security headers and the audit log are applied here once,
so no cell has to (or can forget to) defend itself against HTTP callers.
"""

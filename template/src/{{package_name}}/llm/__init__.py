"""Model calls through pinned purposes, within budgets (see client.py)."""

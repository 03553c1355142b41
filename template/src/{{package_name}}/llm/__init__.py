# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Model calls through pinned purposes, within budgets (see client.py).

Code names a purpose, never a model id: the blueprint's `models:` section pins the exact
id, so a model changes in one reviewed place, and every call is checked against the
blueprint's token and cost budgets before it is sent.
"""

# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The sandbox: where high-risk work runs, never in the service's process.

`runner.py` starts one task in a fresh sandbox (`backends.py`: bwrap > unshare+rlimits >
rlimits; `cgroups.py`: a cgroup per task where possible) under `limits.py`; `pool.py`
keeps pre-started sandboxes warm; `peripheries.py` answers the bus messages of
`core/periphery.py` (code.run, files.read/write, web.fetch) with these. `docs/sandbox.md`
is the threat model.
"""

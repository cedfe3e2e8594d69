"""The OpenAPI description, one module per resource, assembled by :mod:`appliance.api.openapi`.

Each resource module has the resource's component schemas (``SCHEMAS``) and its
paths (``paths()``); :mod:`~appliance.api.schemas.parts` has the building blocks
they share.  Pure data: nothing here imports Flask or the daemon.
"""

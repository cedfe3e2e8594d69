"""``python -m appliance.sim``: a standalone simulator (``host.main``; see ``host.py``)."""

from appliance.sim.host import main

raise SystemExit(main())

from appliance.sim.host import main

raise SystemExit(main())

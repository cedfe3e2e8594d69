"""The on-call rotation and paging: who is on call (``rotation``, pure), the paging rules
(``paging``, pure), the directory in the store (people, schedules, overrides), the named
escalation policies (``policies``), alerts and their escalation (``pager``), ACK/RESOLVE
replies (``replies``), the handover texts (``handover``), and the service a daemon runs
(``service``).  docs/oncall.md walks through it."""

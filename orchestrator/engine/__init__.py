"""The durable engine: rollouts, grace-window timers and the suspensions due, as DBOS Transact
workflows on the store's own database (runtime.py), with steps idempotent against the journal
(workflows.py), executors that watch each other's heartbeats (heartbeat.py), and one API for
every face (api.py)."""

"""NETCONF client side: credentials, sessions with a capability-chosen commit strategy, compare."""

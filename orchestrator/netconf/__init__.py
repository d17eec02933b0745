"""NETCONF client side: credentials, sessions with a capability-chosen commit strategy, compare."""

NETCONF_PORT = 830  # RFC 6242: NETCONF over SSH; a device the network names without a port listens here

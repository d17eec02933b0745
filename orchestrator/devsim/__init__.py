"""devsim: a NETCONF device simulator whose datastores are validated by libyang with a device
kind's standard models (like NSO's netsim, for the kinds no packaged NETCONF server can load)."""

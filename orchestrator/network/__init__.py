"""The network description: devices, PON ports, uplinks, pools, policies."""

"""Planning: the device configs an intent set means, and the minimal edit from what devices have."""

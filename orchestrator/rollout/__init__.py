"""Rolling changes out: network-wide transactions, recovery, drift."""

"""Radio planning: propagation (3GPP TR 38.901), coverage prediction, coverage fill, PCI and
neighbour planning. Pure numerical code (numpy, scipy): it knows nothing of NETCONF, YAML or
the store, so the coverage intent, the bench and the tests share it."""

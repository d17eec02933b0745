"""Lab plumbing: network namespaces, veths and real NETCONF agents running on this machine."""

"""YANG model contexts (libyang) and validation of instance data against them."""

"""Placeholder until the netconfd agent library lands."""


def start_netconfd(path):
    raise RuntimeError("netconfd agent not wired yet")

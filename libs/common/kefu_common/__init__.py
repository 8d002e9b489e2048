"""Shared plumbing for every Kefu service: one way of doing each thing.

Services import from here and from the generated protos (`kefu.*.v1`), never from each other.
"""

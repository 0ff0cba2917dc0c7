"""Primitives every layer may use: synchronization tools and the version."""

"""Veason-R1 reference implementation."""

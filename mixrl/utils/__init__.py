"""Utilities shared by the mixrl models (space handling, ...)."""

"""Stored state: the store implementations and the one owner of every key."""

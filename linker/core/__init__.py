"""The protocol, pure: the Action's tokens, ID tokens, identities, the transaction, the merge,
backoff, PKCE and the decisions. Nothing here opens a socket, serves a request or talks to a
store; the rest of `linker` does that around it
(the repository's tests/test_boundaries.py keeps it so).
"""

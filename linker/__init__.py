"""Client-initiated account linking for Auth0."""

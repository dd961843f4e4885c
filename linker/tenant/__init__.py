"""The tenant's side: OAuth, the Management API, the HTTP client, retries, the M2M token."""

"""A local stand-in for an Auth0 tenant, faithful where linker and its clients touch it.

It serves OIDC (discovery, JWKS, authorization code with PKCE, refresh, userinfo), the
Management API's user and identity endpoints, Token Vault, and runs the real post-login
Action (the shim `linker action` prints) in Node for every login. See README.md beside this file.
"""

from linker.devtenant.app import DevTenantConfig, create_dev_tenant
from linker.devtenant.seed import Seed, SeedError, bundled_seed_data, default_seed, load_seed

__all__ = [
    "DevTenantConfig",
    "Seed",
    "SeedError",
    "bundled_seed_data",
    "create_dev_tenant",
    "default_seed",
    "load_seed",
]

"""`linker dev-tenant`: serve a dev tenant on loopback.

    linker dev-tenant --port 8700 --linker-url http://127.0.0.1:8701 \
        --action-secret "$SECRET" --linker-client-id linker [--seed FILE | --config FILE] [--admin]

Without `--seed` it serves the bundled seed, with the sample app's and linker's callback URLs
filled in from `--app-callback` and `--linker-url`. `--config` takes the stack configuration
`linker stack --config` takes (your clients, connections and users; see linker.testing.config).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import uvicorn

from linker import configure_logging, shim_path
from linker.devtenant.app import DevTenantConfig, create_dev_tenant
from linker.devtenant.seed import SeedError, default_seed, load_seed
from linker.testing.config import ConfigError, StackConfig
from linker.testing.stack import stack_seed


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="linker dev-tenant", description="Serve a local stand-in for an Auth0 tenant."
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8700)
    p.add_argument("--base-url", help="external URL (default: http://HOST:PORT)")
    p.add_argument("--seed", type=Path, help="seed JSON (default: the bundled seed)")
    p.add_argument(
        "--config", type=Path, help="a stack configuration (clients, connections, users) as JSON"
    )
    p.add_argument("--admin", action="store_true", help="mount /__admin (faults, reset, ...)")
    p.add_argument("--linker-url", default="http://127.0.0.1:8701", help="linker's public URL")
    p.add_argument(
        "--action-secret",
        default=os.environ.get("LINKER_ACTION_SECRET"),
        help="the Action's LINKER_ACTION_SECRET (default: $LINKER_ACTION_SECRET)",
    )
    p.add_argument("--linker-client-id", default="linker")
    p.add_argument("--app-callback", default="http://127.0.0.1:8702/callback")
    p.add_argument(
        "--action-path",
        type=Path,
        help=f"the Action file (default: the shim `linker action --path` names, {shim_path()})",
    )
    p.add_argument(
        "--suggest",
        default="off",
        choices=["off", "suggest", "require"],
        help="the Action's LINKER_SUGGEST (suggested linking at sign-in; default off)",
    )
    return p


def build_config(args: argparse.Namespace) -> DevTenantConfig:
    linker_url = args.linker_url.rstrip("/")
    if args.seed is not None:
        seed = load_seed(args.seed)
    elif args.config is not None:
        try:
            config = StackConfig.from_file(args.config)
        except ConfigError as exc:
            raise SeedError(str(exc)) from None
        seed = load_seed(stack_seed(linker_url, config))
    else:
        seed = default_seed(
            app_callback=args.app_callback, linker_callback=linker_url + "/link/callback"
        )
    return DevTenantConfig(
        base_url=args.base_url or f"http://{args.host}:{args.port}",
        seed=seed,
        action_secrets={
            "LINKER_URL": linker_url,
            "LINKER_ACTION_SECRET": args.action_secret,
            "LINKER_CLIENT_ID": args.linker_client_id,
            **({"LINKER_SUGGEST": args.suggest} if args.suggest != "off" else {}),
        },
        action_path=args.action_path,
        admin=args.admin,
    )


def main(argv: list[str]) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed
        return int(exc.code or 0)
    if not args.action_secret:
        print(
            "linker dev-tenant: --action-secret (or LINKER_ACTION_SECRET) is required",
            file=sys.stderr,
        )
        return 2
    try:
        config = build_config(args)
        app = create_dev_tenant(config)
    except (SeedError, FileNotFoundError) as exc:
        print(f"linker dev-tenant: {exc}", file=sys.stderr)
        return 2
    print(f"dev tenant at {config.base_url} (issuer {config.base_url}/)", file=sys.stderr)
    configure_logging("info")  # JSON lines; its URLs carry tokens, which are redacted
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", log_config=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

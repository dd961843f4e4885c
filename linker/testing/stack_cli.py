"""`linker stack`: the dev tenant and linker in one command, for a suite in any language.

    linker stack [--config stack.json] [--json] [--tenant-port 0] [--linker-port 0] [--host ADDR]

It serves what `run_stack` serves (the tenant at localhost, linker at 127.0.0.1, ports from
the OS unless given) and prints, once both answer, where they are and your application's
credentials: as environment lines (`KEY=value`, ready for a `.env` file or `export`), or with
`--json` as one line of JSON. It serves until interrupted (Ctrl-C, or SIGTERM). The tenant's
`/__admin` routes reset it, seed it, inject faults and move its clock between tests.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from linker.testing.config import ConfigError, StackConfig
from linker.testing.servers import StartError
from linker.testing.stack import Stack, run_stack, stack_seed


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="linker stack",
        description="Serve the dev tenant (running the Action in Node) and linker on loopback, "
        "and print their URLs and your application's credentials.",
        epilog='The config file is JSON: {"clients": [{"client_id", "secret", '
        '"callbacks", ...}], "connections": [...], "users": [...], "linker": '
        '{"allowed_clients", "require_same_email", "env"}} (see '
        "linker.testing.config.StackConfig.from_json). Admin routes: POST /__admin/reset "
        "(back to the configured seed), POST /__admin/seed, POST /__admin/users (a user for "
        "one test), GET /__admin/users/{id}, "
        "POST|GET|DELETE /__admin/faults, POST /__admin/clock, GET /__admin/requests.",
    )
    p.add_argument("--config", type=Path, help="your clients, connections, users and settings")
    p.add_argument("--json", action="store_true", help="print one line of JSON")
    p.add_argument("--tenant-port", type=int, default=0, help="default: one from the OS")
    p.add_argument("--linker-port", type=int, default=0, help="default: one from the OS")
    p.add_argument(
        "--host",
        help="the address to listen on (default: loopback only); 0.0.0.0 in a container whose "
        "ports are published under the same numbers (the URLs stay localhost and 127.0.0.1)",
    )
    return p


def describe(stack: Stack) -> dict[str, Any]:
    """What a suite needs to reach the stack and act as its application."""
    served = {c["client_id"] for c in stack_seed(stack.linker_url, stack.config)["clients"]}
    clients = [
        {
            "client_id": client_id,
            "client_secret": stack.secret_of(client_id),
            "callback": stack.callback_of(client_id),
        }
        for client_id in stack.config.allowed_clients
        if client_id in served
    ]
    return {
        "tenant_url": stack.tenant_url,
        "domain": stack.domain,
        "issuer": stack.tenant_url + "/",
        "linker_url": stack.linker_url,
        "admin_url": stack.tenant_url + "/__admin",
        "clients": clients,
    }


def env_lines(described: dict[str, Any]) -> list[str]:
    """The same as `KEY=value` lines; the first allowed client is the application's."""
    lines = [
        f"AUTH0_DOMAIN={described['domain']}",
        f"AUTH0_ISSUER={described['issuer']}",
        f"LINKER_STACK_TENANT_URL={described['tenant_url']}",
        f"LINKER_STACK_LINKER_URL={described['linker_url']}",
        f"LINKER_STACK_ADMIN_URL={described['admin_url']}",
    ]
    if described["clients"]:
        app = described["clients"][0]
        lines.append(f"AUTH0_CLIENT_ID={app['client_id']}")
        if app["client_secret"] is not None:
            lines.append(f"AUTH0_CLIENT_SECRET={app['client_secret']}")
        lines.append(f"AUTH0_CALLBACK_URL={app['callback']}")
    return lines


def main(argv: list[str]) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed
        return int(exc.code or 0)
    try:
        config = StackConfig.from_file(args.config) if args.config else StackConfig()
    except ConfigError as exc:
        print(f"linker stack: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        with run_stack(
            config, tenant_port=args.tenant_port, linker_port=args.linker_port, listen=args.host
        ) as stack:
            described = describe(stack)
            if args.json:
                print(json.dumps(described), flush=True)
            else:
                print("\n".join(env_lines(described)), flush=True)
            print("linker stack: serving until interrupted", file=sys.stderr, flush=True)
            stop.wait()
    except StartError as exc:
        print(f"linker stack: {exc}", file=sys.stderr)
        return 1
    return 0

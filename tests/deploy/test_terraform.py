"""deploy/terraform, parsed with python-hcl2 and held against the settings and the shim
(terraform itself cannot run here: it would need the provider registry)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2
import pytest

from linker.settings import _REQUIRED, _TABLE

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "deploy" / "terraform"
SHIM = ROOT / "deploy" / "action" / "linker-action.js"


def unquote(value: Any) -> Any:
    """python-hcl2 keeps a string literal's quotes; expressions come as `${...}`."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def load() -> dict[str, list[dict[str, Any]]]:
    merged: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(MODULE.glob("*.tf")):
        with path.open() as handle:
            for key, blocks in hcl2.load(handle).items():
                merged.setdefault(key, []).extend(blocks)
    return merged


@pytest.fixture(scope="module")
def tf() -> dict[str, list[dict[str, Any]]]:
    return load()


def resources(tf: dict[str, list[dict[str, Any]]], kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for block in tf.get("resource", []):
        for quoted_kind, named in block.items():
            if unquote(quoted_kind) == kind:
                found.update({unquote(name): body for name, body in named.items()})
    return found


def one(tf: dict[str, list[dict[str, Any]]], kind: str) -> dict[str, Any]:
    found = resources(tf, kind)
    assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
    return next(iter(found.values()))


def local(tf: dict[str, list[dict[str, Any]]], name: str) -> str:
    for block in tf["locals"]:
        if name in block:
            return str(unquote(block[name]))
    raise KeyError(name)


def test_the_module_uses_the_auth0_provider(tf: dict[str, list[dict[str, Any]]]) -> None:
    providers = tf["terraform"][0]["required_providers"][0]
    assert unquote(providers["auth0"]["source"]) == "auth0/auth0"


def test_the_companion_app_is_a_regular_web_app_with_linkers_callback(
    tf: dict[str, list[dict[str, Any]]],
) -> None:
    client = one(tf, "auth0_client")
    assert unquote(client["app_type"]) == "regular_web"
    assert set(map(unquote, client["grant_types"])) == {"authorization_code", "client_credentials"}
    assert client["callbacks"] == ["${local.callback_url}"]
    assert local(tf, "callback_url") == "${var.linker_public_url}/link/callback"
    assert unquote(one(tf, "auth0_client_credentials")["authentication_method"]) in (
        "client_secret_post",
        "client_secret_basic",
    )


def test_the_grant_is_read_and_update_users_on_the_management_api(
    tf: dict[str, list[dict[str, Any]]],
) -> None:
    grant = one(tf, "auth0_client_grant")
    assert sorted(map(unquote, grant["scopes"])) == ["read:users", "update:users"]
    assert grant["audience"] == "${local.management}"
    assert local(tf, "management") == "https://${var.auth0_domain}/api/v2/"
    assert grant["client_id"] == "${auth0_client.linker.client_id}"


def shim_secrets() -> set[str]:
    return set(re.findall(r"event\.secrets\.([A-Z_]+)", SHIM.read_text()))


def test_the_action_is_the_shipped_shim_with_the_secrets_it_reads(
    tf: dict[str, list[dict[str, Any]]],
) -> None:
    action = one(tf, "auth0_action")
    assert action["code"] == "${file(local.action_file)}"
    default = re.search(r'"\$\{path\.module\}/([^"]+)"', local(tf, "action_file"))
    assert default is not None
    assert (MODULE / default[1]).resolve() == SHIM
    trigger = action["supported_triggers"][0]
    assert (unquote(trigger["id"]), unquote(action["runtime"])) == ("post-login", "node22")
    assert action["deploy"] is True

    static = {unquote(s["name"]) for s in action["secrets"]}
    dynamic = {
        name
        for block in action.get("dynamic", [])
        for body in block.values()
        for name in map(
            unquote, body["for_each"].split("?")[1].split(":")[0].strip(" []").split(",")
        )
    }
    assert static == {"LINKER_URL", "LINKER_ACTION_SECRET", "LINKER_CLIENT_ID"}
    assert static | dynamic == shim_secrets()
    values = {unquote(s["name"]): s["value"] for s in action["secrets"]}
    assert values["LINKER_URL"] == "${var.linker_public_url}"
    assert values["LINKER_CLIENT_ID"] == "${auth0_client.linker.client_id}"
    assert values["LINKER_ACTION_SECRET"] == "${random_password.action_secret.result}"


def test_linkers_action_is_bound_first_to_post_login(tf: dict[str, list[dict[str, Any]]]) -> None:
    binding = one(tf, "auth0_trigger_actions")
    assert unquote(binding["trigger"]) == "post-login"
    assert binding["actions"][0]["id"] == "${auth0_action.linker.id}"


def test_the_outputs_feed_every_required_setting(tf: dict[str, list[dict[str, Any]]]) -> None:
    outputs = {unquote(k): v for block in tf["output"] for k, v in block.items()}
    settings = outputs["linker_settings"]
    assert settings["sensitive"] is True
    names = set(settings["value"])
    known = {row[0] for row in _TABLE}
    required = {row[0] for row in _TABLE if row[3] is _REQUIRED}
    assert names <= known  # no name linker would not read
    assert required <= names  # nothing linker serve requires is missing
    assert settings["value"]["LINKER_PUBLIC_URL"] == "${var.linker_public_url}"
    assert "random_password.action_secret.result" in settings["value"]["LINKER_ACTION_SECRETS"]


def test_the_action_secret_is_long_enough(tf: dict[str, list[dict[str, Any]]]) -> None:
    assert one(tf, "random_password")["length"] >= 32


def test_every_variable_is_described_and_used(tf: dict[str, list[dict[str, Any]]]) -> None:
    text = "\n".join(p.read_text() for p in MODULE.glob("*.tf"))
    for block in tf["variable"]:
        for quoted, body in block.items():
            name = unquote(quoted)
            assert body.get("description"), name
            assert f"var.{name}" in text, f"variable {name} is never used"

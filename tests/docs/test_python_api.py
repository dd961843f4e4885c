"""docs/protocol.md section 6, the API it calls stable, says what the code's signatures are.

Each code span there that starts with `linker.` (or `await linker.`) and has a parameter list
is a signature: its parameters (names, order, the `*` of keyword-only ones, defaults) and its
return annotation must be the code's, found through `inspect`, and `await` must be written
exactly for coroutines. Every public name of `linker.client` and `linker.testing` must have
its signature there (results and type aliases only need to be named).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import linker.client
import linker.testing

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (linker.client, linker.testing)
# Returned to the caller or used as a type, not called: naming them (with their fields) is
# enough.
NAMED_ONLY = {"ConnectRequest", "ConnectedAccount", "FederatedToken", "LinkRequest", "Form", "Via"}
# linker.testing's errors (raised, never made) and the stack `run_stack` yields
NAMED_ONLY |= {"ConfigError", "StartError", "Stack"}
# the events a delivery is read as (made by `EventReceiver.verify`), and their union
NAMED_ONLY |= {"IdentityLinked", "IdentityUnlinked", "UserMerged", "Ping", "LinkerEvent"}

SPAN = re.compile(r"`([^`]+)`")
SIGNATURE = re.compile(
    r"(?P<await>await )?(?P<name>linker(?:\.\w+)+)\((?P<params>.*)\)(?:\s*->\s*(?P<returns>.+))?",
    re.DOTALL,
)


def section_6() -> str:
    text = (ROOT / "docs" / "protocol.md").read_text()
    return text.split("\n## 6. ", 1)[1].split("\n## 7. ", 1)[0]


@dataclass(frozen=True)
class Written:
    """One signature as the doc writes it."""

    name: str
    params: str
    returns: str | None
    awaited: bool


def written_signatures(text: str) -> list[Written]:
    found = []
    for span in SPAN.findall(text):
        match = SIGNATURE.fullmatch(" ".join(span.split()))
        if match is not None:
            found.append(
                Written(
                    match["name"],
                    match["params"].strip(),
                    match["returns"],
                    match["await"] is not None,
                )
            )
    return found


def resolve(dotted: str) -> Any:
    """`linker.client.TokenVault.exchange` -> the function; the longest importable module
    first, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute)
        return found
    raise LookupError(dotted)


def _default_text(value: Any) -> str:
    if repr(value) == "<factory>":
        return "Ellipsis"  # a dataclass field's default made fresh for each instance: `...`
    if callable(value):
        return f"{value.__module__}.{value.__qualname__}"
    return repr(value)


def _written_default(node: ast.expr) -> str:
    try:
        return repr(ast.literal_eval(node))
    except ValueError:
        return ast.unparse(node)


def described(params: str) -> list[tuple[str, str, str | None]]:
    """(kind, name, default) of each parameter written, parsed as Python does."""
    tree = ast.parse(f"def _({params}): pass")
    function = tree.body[0]
    assert isinstance(function, ast.FunctionDef)
    args = function.args
    plain = [*args.posonlyargs, *args.args]
    firsts = [None] * (len(plain) - len(args.defaults)) + list(args.defaults)
    rows: list[tuple[str, str, str | None]] = [
        ("positional", a.arg, None if d is None else _written_default(d))
        for a, d in zip(plain, firsts, strict=True)
    ]
    if args.vararg is not None:
        rows.append(("*args", args.vararg.arg, None))
    rows += [
        ("keyword", a.arg, None if d is None else _written_default(d))
        for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
    ]
    if args.kwarg is not None:
        rows.append(("**kwargs", args.kwarg.arg, None))
    return rows


_KINDS = {
    inspect.Parameter.POSITIONAL_ONLY: "positional",
    inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional",
    inspect.Parameter.VAR_POSITIONAL: "*args",
    inspect.Parameter.KEYWORD_ONLY: "keyword",
    inspect.Parameter.VAR_KEYWORD: "**kwargs",
}


def actual(target: Any) -> tuple[list[tuple[str, str, str | None]], str | None]:
    """The code's parameters (without `self`) and return annotation, as the doc writes them."""
    signature = inspect.signature(target)
    rows = [
        (
            _KINDS[p.kind],
            name,
            None if p.default is inspect.Parameter.empty else _default_text(p.default),
        )
        for name, p in signature.parameters.items()
        if name != "self"
    ]
    returns = signature.return_annotation
    if returns is inspect.Signature.empty or inspect.isclass(target):
        return rows, None
    return rows, str(returns)


WRITTEN = written_signatures(section_6())


@pytest.mark.parametrize("written", WRITTEN, ids=lambda w: w.name)
def test_each_signature_in_section_6_is_the_codes(written: Written) -> None:
    target = resolve(written.name)
    params, returns = actual(target)
    assert described(written.params) == params
    assert written.returns == returns
    assert written.awaited == inspect.iscoroutinefunction(target)


def test_every_public_name_of_the_client_and_testing_packages_is_in_section_6() -> None:
    text = section_6()
    with_signature = {w.name for w in WRITTEN}
    missing = []
    for package in PACKAGES:
        for name in package.__all__:
            if name in NAMED_ONLY:
                if f"`{name}`" not in text:
                    missing.append(name)
            elif f"{package.__name__}.{name}" not in with_signature:
                missing.append(f"{package.__name__}.{name}")
    assert missing == []


def test_a_drifted_signature_is_caught() -> None:
    (written,) = written_signatures(
        "`linker.client.build_link_url(*, domain, client_id, redirect_uri, connection,\n"
        '  id_token_hint, connection_scope=None, action="link", scheme="https") -> LinkRequest`'
    )
    params, returns = actual(resolve(written.name))
    assert written.returns == returns
    assert described(written.params) != params  # scope= and requested_identity= are missing

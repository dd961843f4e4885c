"""linker.core.identities: identities as Auth0 lists them, and `provider|id` user ids."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linker.core.identities import Identity, identities_of, split_user_id


def test_an_identity_reads_from_auth0_and_back() -> None:
    raw = {"provider": "github", "user_id": 42, "connection": "github", "isSocial": True}
    identity = Identity.from_auth0(raw)
    assert identity == Identity("github", "42", "github")
    assert identity.full_id == "github|42"
    assert identity.to_claim() == {"provider": "github", "user_id": "42", "connection": "github"}


@pytest.mark.parametrize(
    "raw",
    [
        {"user_id": "1", "connection": "c"},
        {"provider": "p", "user_id": "1"},
        {"provider": "p", "user_id": True, "connection": "c"},
        {"provider": "p", "user_id": None, "connection": "c"},
        {"provider": 5, "user_id": "1", "connection": "c"},
    ],
)
def test_a_malformed_identity_is_refused(raw: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Identity.from_auth0(raw)


def test_a_user_lists_only_its_well_formed_identities() -> None:
    user = {"identities": [{"provider": "a", "user_id": "1", "connection": "a"}, "junk", {}]}
    assert identities_of(user) == [Identity("a", "1", "a")]
    assert identities_of({"identities": "x"}) == []
    assert identities_of({}) == []


def test_a_user_id_splits_at_the_first_bar_only() -> None:
    assert split_user_id("samlp|corp|alice") == ("samlp", "corp|alice")
    for bad in ("alice", "|1", "github|", ""):
        with pytest.raises(ValueError):
            split_user_id(bad)


@given(st.text(min_size=1).filter(lambda s: "|" not in s), st.text(min_size=1))
def test_split_undoes_full_id(provider: str, user_id: str) -> None:
    identity = Identity(provider, user_id, "c")
    assert split_user_id(identity.full_id) == (provider, user_id)

"""linker.core.transaction: what a nested login remembers, stored compactly and read back."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from linker.core.identities import Identity
from linker.core.transaction import Transaction

text = st.text(max_size=20)
identities = st.none() | st.builds(Identity, text, text, text)
maybe_text = st.none() | text
times = st.floats(allow_nan=False, allow_infinity=False)

transactions = st.builds(
    Transaction,
    id=text,
    action=st.sampled_from(["link", "unlink"]),
    primary_user_id=text,
    primary_email=maybe_text,
    client_id=text,
    connection=text,
    connection_scope=maybe_text,
    outer_state=text,
    nonce=text,
    code_verifier=text,
    ip=maybe_text,
    created_at=times,
    expires_at=times,
    target=identities,
    already_linked=identities,
)


@given(transactions)
def test_a_stored_transaction_reads_back_equal(txn: Transaction) -> None:
    assert Transaction.loads(txn.id, txn.dumps()) == txn


def test_the_id_is_the_key_and_absent_trailing_fields_are_not_stored() -> None:
    values: dict[str, Any] = {f.name: f"v-{f.name}" for f in fields(Transaction)}
    values.update(created_at=1.0, expires_at=2.0, target=None, already_linked=None)
    txn = Transaction(**values)
    stored = json.loads(txn.dumps())
    assert "v-id" not in stored
    assert stored[-1] == 2.0  # no trailing nulls for the optional identities


def test_a_transaction_stored_before_a_field_was_added_still_reads() -> None:
    values: dict[str, Any] = {f.name: f"v-{f.name}" for f in fields(Transaction)}
    values.update(created_at=1.0, expires_at=2.0, target=Identity("g", "1", "g"))
    values["already_linked"] = None
    txn = Transaction(**values)
    assert Transaction.loads("v-id", txn.dumps()).target == Identity("g", "1", "g")

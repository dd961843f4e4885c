"""Forging helpers: change a signed value so that its signature no longer matches."""

from __future__ import annotations


def tamper(signed: str) -> str:
    """`signed` with one character of its signature changed.

    The character changed sits in the middle of the last segment: every base64url character
    there carries six bits of the signature. The last character may carry padding bits only,
    so changing it can leave the decoded signature as it was.
    """
    head, sep, signature = signed.rpartition(".")
    if len(signature) < 3:
        raise ValueError("nothing to tamper with: the signature is too short")
    middle = len(signature) // 2
    swapped = "A" if signature[middle] != "A" else "B"
    return f"{head}{sep}{signature[:middle]}{swapped}{signature[middle + 1 :]}"

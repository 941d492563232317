"""argon2id password hashing (argon2-cffi's defaults follow RFC 9106's recommendation), and
the strength check every new password passes: zxcvbn's estimate, which knows common
passwords, words, names, keyboard patterns, repeats and sequences (no hand-written rules)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from audit.security.errors import WeakPassword

MIN_PASSWORD_LENGTH = 12
# zxcvbn's scale: 0 too guessable … 4 very unguessable. 3 resists an offline attack on a
# slow hash ("safely unguessable").
MIN_PASSWORD_SCORE = 3
_CHECKED_CHARS = 100  # zxcvbn's matching grows with length; the rest can only add strength
_HASHER = PasswordHasher()
# Verified against when the user does not exist, so both cases take the same time.
_DUMMY_HASH = _HASHER.hash("wecom-audit: no such user")


def check_strength(password: str, *, user_inputs: tuple[str, ...] = ()) -> None:
    """Refuse a short, common or trivial password (the user's own names count as guessable)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword("too_short", f"the password is too short (at least {MIN_PASSWORD_LENGTH} characters)")
    estimate = zxcvbn(password[:_CHECKED_CHARS], user_inputs=[value for value in user_inputs if value])
    if estimate["score"] < MIN_PASSWORD_SCORE:
        warning = estimate["feedback"].get("warning") or ""
        raise WeakPassword(
            "too_guessable",
            "the password is too easy to guess" + (f": {warning}" if warning else ""),
            hint="use a longer passphrase of several uncommon words; avoid names, repeats and sequences",
        )


def hash_password(password: str, *, user_inputs: tuple[str, ...] = ()) -> str:
    check_strength(password, user_inputs=user_inputs)
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _HASHER.check_needs_rehash(password_hash)

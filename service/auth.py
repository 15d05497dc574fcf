"""API tokens with roles. Only the SHA-256 of a token is stored; the token is shown once, at creation."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db import Token, utcnow

Role = Literal["submitter", "reviewer", "admin"]
ROLES: tuple[Role, ...] = ("submitter", "reviewer", "admin")
# Each role holds the rights of the roles before it: a reviewer may also upload, an admin may review.
RANK = {role: i for i, role in enumerate(ROLES)}
TOKEN_PREFIX = "gk_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Principal:
    token_id: int
    name: str
    role: Role

    def has(self, role: Role) -> bool:
        return RANK[self.role] >= RANK[role]


def create_token(session: Session, name: str, role: Role) -> tuple[Token, str]:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = Token(name=name, role=role, token_hash=hash_token(secret), prefix=secret[:10])
    session.add(row)
    session.flush()
    return row, secret


def authenticate(session: Session, secret: str) -> Principal | None:
    row = session.scalar(select(Token).where(Token.token_hash == hash_token(secret)))
    if row is None or row.revoked_at is not None:
        return None
    return Principal(row.id, row.name, row.role)  # type: ignore[arg-type]


def revoke_token(session: Session, token_id: int) -> bool:
    row = session.get(Token, token_id)
    if row is None:
        return False
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return True


class TokenCache:
    """Recently seen tokens (by their hash), so a request under load does not need the database to be
    authenticated. Entries live `ttl` seconds: a token revoked on another machine stops working within
    that time (at once on the machine that revoked it). Unknown tokens are never cached."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, secret: str) -> Principal | None:
        if self.ttl <= 0:
            return None
        key = hash_token(secret)
        with self._lock:
            hit = self._entries.get(key)
            if hit is None:
                return None
            if hit[0] < time.monotonic():
                del self._entries[key]
                return None
            return hit[1]

    def put(self, secret: str, who: Principal) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[hash_token(secret)] = (time.monotonic() + self.ttl, who)

    def evict(self, token_id: int) -> None:
        with self._lock:
            for key in [k for k, (_, who) in self._entries.items() if who.token_id == token_id]:
                del self._entries[key]

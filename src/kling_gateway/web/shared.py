"""What every area of pages shares: the gateway's parts, the cookie signer, the templates and sign-in limits."""

from __future__ import annotations

from dataclasses import dataclass

from kling_gateway.web.pages import Pages
from kling_gateway.web.parts import Parts
from kling_gateway.web.secret import session_secret
from kling_gateway.web.sessions import SessionCookie, Signer
from kling_gateway.web.signin import SignInLimits


@dataclass(frozen=True)
class Web:
    """What every area shares: the gateway's parts, the signer of cookies, the templates and sign-in limits."""

    parts: Parts
    signer: Signer
    pages: Pages
    limits: SignInLimits

    @classmethod
    def of(cls, parts: Parts) -> Web:
        """Make the shared pieces from the gateway's settings."""
        signer = Signer(lambda: session_secret(parts.settings))
        return cls(parts, signer, Pages(signer), SignInLimits.for_settings(parts.settings))

    def cookie(self, area: str) -> SessionCookie:
        """The session cookie of an area: named after it, sent only to its paths."""
        return SessionCookie(f"kg_{area}", f"/{area}", self.parts.settings.web.session_ttl_s, self.signer)

"""The only routes that answer without authentication, each with the reason it may.

Every other route must answer 401 (API) or redirect to ``/login`` (pages) when called without
credentials; ``tests/web/test_route_auth.py`` calls every route of the app to prove it, and
fails as well when an entry here names a route that no longer exists. Adding a route here is a
security decision: give the reason.
"""

from __future__ import annotations

PUBLIC_ROUTE_REASONS: dict[tuple[str, str], str] = {
    ("GET", "/"): "home page: what the service is, links to sign in and to the catalog",
    ("GET", "/privacy"): "the privacy notice (個人資料蒐集告知) must be readable before signing in",
    ("GET", "/accessibility"): "the accessibility statement, for anyone",
    ("GET", "/logout"): "the sign-out button for whoever is signed in, else a redirect to the "
    "sign-in page; signs no one out (that is POST /logout, checked against forgery)",
    ("GET", "/favicon.ico"): "the site's icon, which every browser asks for",
    ("GET", "/healthz"): "liveness probe for load balancers and the demo runner",
    ("GET", "/readyz"): "readiness probe: says which dependency failed, no personal data",
    ("GET", "/metrics"): "Prometheus; refused unless loopback without proxy or metrics_token",
    ("GET", "/login"): "the sign-in form itself",
    ("POST", "/login"): "signing in is how one becomes authenticated",
    ("GET", "/static/{path:path}"): "style sheets and scripts, no data",
    ("GET", "/openapi.json"): "the API description is public so agencies can build clients",
    ("GET", "/api/docs"): "interactive API documentation page (reads /openapi.json)",
    ("GET", "/.well-known/jwks.json"): "public keys: anyone must be able to verify a transcript",
    ("GET", "/api/v1/audit/tree-heads/latest"): "signed tree head: a size, a root hash, a time "
    "and a signature; anyone must be able to keep copies to hold the audit log to its past",
    ("GET", "/api/v1/audit/tree-heads/{size}"): "the same for an earlier size of the log",
    ("GET", "/api/v1/audit/consistency"): "consistency proof between two tree heads: hashes "
    "only, so anyone can check the log only grew",
    ("GET", "/audit/checkpoint"): "the audit log's C2SP checkpoint: a size, a root hash and "
    "signatures, for witnesses and anyone keeping copies",
    ("POST", "/witness/add-checkpoint"): "C2SP tlog-witness: a log pushes its checkpoint; the "
    "spec asks for no authentication beyond the checkpoint's own signature, checked against "
    "the log keys this node was configured to witness",
    ("GET", "/witness/{origin_hash}/checkpoint"): "C2SP tlog-witness monitoring: the newest "
    "checkpoint this witness cosigned, sizes, hashes and signatures only",
    ("GET", "/citizen/login"): "the citizen digital certificate sign-in page itself",
    ("POST", "/api/v1/citizen/sign-in/begin"): "a one-time challenge for the card to sign: "
    "signing in is how one becomes authenticated",
    ("POST", "/api/v1/citizen/sign-in/complete"): "checks the card's signature and certificate "
    "and opens the citizen's session",
    ("GET", "/verify"): "transcript verification page (where a PDF transcript's QR code leads): "
    "says whether this node made a transcript and who issued it when, never personal data",
    ("POST", "/verify"): "checks the signature of an uploaded transcript file; changes nothing, "
    "shows only issuer, dataset name, times and ids",
    ("GET", "/verify/transcripts/{jti}"): "the QR code's target: needs the transcript id and its "
    "fingerprint, answers with issuer, dataset name and times only",
    ("GET", "/verify/certificates/{kid}"): "the self-issued certificate of a published key: "
    "public, as the key itself is",
    ("GET", "/stats/public"): "effectiveness statistics for anyone: node-wide aggregates over "
    "whole weeks, every cell below the suppression threshold withheld (open data)",
    ("GET", "/api/v1/stats/public"): "the same public aggregates for machines",
    ("POST", "/open311/v2/requests.{fmt}"): "Open311 GeoReport v2 create: the app proves "
    "itself with its api_key form field (checked per city, counted against its quota), as the "
    "specification requires; no session or bearer token",
}
"""(method, path template) -> why it is public. HEAD follows GET."""

PUBLIC_PREFIX_REASONS: dict[tuple[str, str], str] = {
    (
        "GET",
        "/catalog",
    ): "catalog pages: agencies, datasets, application items are public information",
    ("GET", "/api/v1/catalog"): "catalog API: the same public information for machines",
    ("GET", "/open311/v2"): "Open311 GeoReport v2 reads are public by the specification: "
    "service types and requests without any personal field",
}
"""(method, path prefix) -> why every such route below the prefix is public. Only reading
methods belong here; a prefix must still match at least one route."""

PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset(PUBLIC_ROUTE_REASONS)
PUBLIC_PREFIXES: frozenset[tuple[str, str]] = frozenset(PUBLIC_PREFIX_REASONS)


def under_prefix(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def is_public(method: str, path: str) -> bool:
    """Whether ``method`` on the route template ``path`` may answer without credentials."""
    method = "GET" if method.upper() == "HEAD" else method.upper()
    if (method, path) in PUBLIC_ROUTES:
        return True
    return any(m == method and under_prefix(path, p) for m, p in PUBLIC_PREFIXES)

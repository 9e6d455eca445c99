"""The app side of the stand-in origin: pages, ActivityPub and API answers
with the Cache-Control, Vary, status codes and signature rules of the real
servers, read from their source. demo/origin.py serves them for every path
outside the media folders.

Flavours (what each reproduces; the README's "Stand-ins" table says the same):

- mastodon: Mastodon 4.3–4.6 (the headers are the same on main, 4.7.0-alpha):
  ApplicationController#set_cache_control_defaults (`private, no-store` unless a
  controller says otherwise), CacheConcern (`vary_by`, `enforce_cache_control!`:
  a request carrying a header its Vary names gets `private, no-store`),
  StatusesController / AccountsController / OutboxesController /
  FollowerAccountsController / RepliesController / InstanceActorsController /
  WellKnown / NodeInfo / Api::V1::InstancesController / timelines (their
  `expires_in … public:` calls), Localized (the visitor's language from
  Accept-Language, http_accept_language's language_region_compatible_from),
  SignatureVerification (draft-cavage `Signature` with (request-target), host
  and date signed; RFC 9421 `Signature-Input` with @method and @target-uri),
  authorized fetch (AUTHORIZED_FETCH: unsigned ActivityPub → 401
  {"error":"Request not signed"}; Vary gains Signature), StatusPolicy (a
  status the signer may not see → 404 {"error":"Not Found"}).
- akkoma: Akkoma 3.16 (develop, 2025): no Cache-Control of its own on pages and
  ActivityPub (Plug's default `max-age=0, private, must-revalidate`), no Vary;
  EnsureHTTPSignaturePlug in authorized_fetch_mode (unsigned → 401 text/plain
  "Request not signed"); /users/:nick unsigned → the key-only user; not
  visible → 404 {"error":"Not found"}.
- gotosocial: GoToSocial 0.20: always authorized fetch (unsigned → 401 JSON),
  `Cache-Control: no-store` on ActivityPub and web pages, public keys
  `public, max-age=604800`, status not visible → 404.
- misskey: Misskey 2023–2025 (packages/backend/src/server/ActivityPubServerService.ts
  and web/ClientServerService.ts): a note (public or home, not local-only) as
  ActivityPub `public, max-age=180` with `Vary: Accept`, else 404 with no
  lifetime; users, collections and keys `public, max-age=180`; the SSR pages
  of a note or user `public, max-age=15` (`Vary: Accept` on notes), the base
  page `public, max-age=30`; the API is POST (`/api/meta` names the
  `mediaProxy`), no lifetime; signatures are not checked on GETs (Misskey's
  secure mode is not reproduced).

Signatures: the stand-in cannot fetch actors' public keys, so a signer's key
is a secret derived from its keyId (HMAC-SHA256, `algorithm="hs2019"`; the
test clients compute the same, see `sign_cavage` / `sign_rfc9421`). What is
checked is what Mastodon checks: the signed headers, the date window, and
that the signature matches.

Every private answer names its signer and its language, so a test sees at
once when one party's answer reaches another. Public answers are the same
for everyone, as the real servers' are.
"""
import base64
import email.utils
import hashlib
import hmac
import json
import time
import urllib.parse

# Mastodon's config.i18n.available_locales (4.3–4.6), in its order: the
# bare language before its regions, as language_region_compatible_from's
# "first of the language" depends on it.
LOCALES = ["af", "an", "ar", "ast", "be", "bg", "bn", "br", "bs", "ca", "ckb", "co", "cs", "cy", "da", "de", "el", "en",
           "en-GB", "eo", "es", "es-AR", "es-MX", "et", "eu", "fa", "fi", "fo", "fr", "fr-CA", "fr-QC", "fy", "ga", "gd",
           "gl", "he", "hi", "hr", "hu", "hy", "id", "ig", "io", "is", "it", "ja", "ka", "kab", "kk", "kn", "ko", "ku",
           "kw", "la", "lt", "lv", "mk", "ml", "mr", "ms", "my", "nl", "nn", "no", "oc", "pa", "pl", "pt-BR", "pt-PT",
           "ro", "ru", "sa", "sc", "sco", "si", "sk", "sl", "sq", "sr", "sr-Latn", "sv", "szl", "ta", "te", "th", "tr",
           "tt", "ug", "uk", "ur", "vi", "zgh", "zh-CN", "zh-HK", "zh-TW"]
GREETINGS = {"en": "Hello", "en-GB": "Hello", "de": "Hallo", "fr": "Bonjour", "fr-CA": "Bonjour", "es": "Hola",
             "es-AR": "Hola", "es-MX": "Hola", "it": "Ciao", "ja": "こんにちは", "nl": "Hallo", "pl": "Cześć",
             "pt-BR": "Olá", "pt-PT": "Olá", "sv": "Hej", "zh-CN": "你好", "zh-TW": "你好"}

# Statuses whose visibility is not public: id → (visibility, the servers whose
# actors follow the author, i.e. may see it). Every other id is public.
PRIVATE_STATUSES = {"100": ("private", ("friend.example",)), "101": ("direct", ())}
# Statuses deleted since (demo/origin.py's /__delete, for the tests).
DELETED = set()

CLOCK_SKEW = 12 * 3600  # SignatureVerification: a Date outside ±12 h is refused


def signer_secret(key_id):
    """The stand-in's "public key" of an actor: a secret derived from its keyId."""
    return hashlib.sha256(b"herd-stand-in-key:" + key_id.encode()).digest()


def sign_cavage(key_id, method, target, host, date):
    """A draft-cavage Signature header over (request-target), host and date."""
    text = "(request-target): %s %s\nhost: %s\ndate: %s" % (method.lower(), target, host, date)
    signature = base64.b64encode(hmac.new(signer_secret(key_id), text.encode(), hashlib.sha256).digest()).decode()
    return 'keyId="%s",algorithm="hs2019",headers="(request-target) host date",signature="%s"' % (key_id, signature)


def rfc9421_base(method, target_uri, params):
    return '"@method": %s\n"@target-uri": %s\n"@signature-params": %s' % (method.upper(), target_uri, params)


def sign_rfc9421(key_id, method, target_uri, created):
    """RFC 9421 Signature-Input and Signature headers over @method and @target-uri."""
    params = '("@method" "@target-uri");created=%d;keyid="%s"' % (created, key_id)
    digest = hmac.new(signer_secret(key_id), rfc9421_base(method, target_uri, params).encode(), hashlib.sha256).digest()
    return "sig1=" + params, "sig1=:%s:" % base64.b64encode(digest).decode()


class Request:
    """What the app sees: the method, the path and raw query as sent, the headers."""

    def __init__(self, method, path, raw_query, headers, scheme="http"):
        self.method, self.path, self.raw_query, self.scheme = method, path, raw_query, scheme
        self.query = dict(urllib.parse.parse_qsl(raw_query))
        self.headers = {k.lower(): v for k, v in headers.items()}

    def header(self, name):
        return self.headers.get(name.lower(), "")

    @property
    def target(self):
        return self.path + ("?" + self.raw_query if self.raw_query else "")


class Answer:
    def __init__(self, status, body, ctype, cache_control=None, vary=None, extra=()):
        self.status, self.body, self.ctype = status, body, ctype
        self.cache_control, self.vary, self.extra = cache_control, vary, list(extra)

    def headers(self):
        out = []
        if self.cache_control is not None:
            out.append(("Cache-Control", self.cache_control))
        if self.vary:
            out.append(("Vary", self.vary))
        return out + self.extra


def accept_variant(accept):
    accept = accept.lower()
    if "application/activity+json" in accept or "application/ld+json" in accept:
        return "activitypub"
    if "application/json" in accept or "application/jrd+json" in accept:
        return "json"
    if "text/html" in accept:
        return "html"
    return "default"


def preferred_languages(header):
    """http_accept_language's user_preferred_languages: by q, highest first, no * or q=0."""
    tags = []
    for index, part in enumerate(header.split(",")):
        fields = [f.strip() for f in part.split(";")]
        tag, q = fields[0], 1.0
        for field in fields[1:]:
            if field.startswith("q="):
                try:
                    q = float(field[2:])
                except ValueError:
                    q = 0.0
        if tag and tag != "*" and q > 0:
            tags.append((-q, index, tag))
    return [tag for _, _, tag in sorted(tags)]


def locale_for(header):
    """Localized#request_locale via language_region_compatible_from(available_locales)."""
    for preferred in preferred_languages(header):
        preferred = preferred.lower()
        language = preferred.split("-", 1)[0]
        group = [l for l in LOCALES if l.lower().split("-", 1)[0] == language]
        for locale in group:
            if locale.lower() == preferred:
                return locale
        if group:
            return group[0]
    return "en"


class SignatureError(Exception):
    def __init__(self, status, reason):
        super().__init__(reason)
        self.status, self.reason = status, reason


def verify_signature(request):
    """The signer's keyId, None when unsigned; SignatureError when it does not verify."""
    if request.header("signature-input"):
        return _verify_rfc9421(request)
    header = request.header("signature")
    if not header:
        return None
    fields = {}
    for part in header.split(","):
        if "=" in part:
            name, value = part.split("=", 1)
            fields[name.strip()] = value.strip().strip('"')
    key_id, signature = fields.get("keyId"), fields.get("signature")
    if not key_id or not signature:
        raise SignatureError(400, "Incompatible request signature. keyId and signature are required")
    signed = fields.get("headers", "date").lower().split()
    if "date" not in signed and "(created)" not in signed:
        raise SignatureError(401, "Mastodon requires the Date header or (created) pseudo-header to be signed")
    if "(request-target)" not in signed and "digest" not in signed:
        raise SignatureError(401, "Mastodon requires the Digest header or (request-target) pseudo-header to be signed")
    if request.method == "GET" and "host" not in signed:
        raise SignatureError(401, "Mastodon requires the Host header to be signed when doing a GET request")
    lines = []
    for name in signed:
        if name == "(request-target)":
            lines.append("(request-target): %s %s" % (request.method.lower(), request.target))
        else:
            lines.append("%s: %s" % (name, request.header(name)))
    expected = base64.b64encode(hmac.new(signer_secret(key_id), "\n".join(lines).encode(), hashlib.sha256).digest()).decode()
    if not hmac.compare_digest(expected, signature):
        raise SignatureError(401, "Verification failed for %s" % key_id)
    date = request.header("date")
    try:
        when = email.utils.parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        raise SignatureError(401, "Invalid Date header")
    if abs(time.time() - when) > CLOCK_SKEW:
        raise SignatureError(401, "Signed request date outside acceptable time window")
    return key_id


def _verify_rfc9421(request):
    header_input, header_signature = request.header("signature-input"), request.header("signature")
    label, _, params = header_input.partition("=")
    if not params.startswith("(") or not header_signature.startswith(label + "=:"):
        raise SignatureError(401, "Error parsing signature parameters")
    components = params[1:params.index(")")].split()
    if '"@method"' not in components or '"@target-uri"' not in components or ";created=" not in params:
        raise SignatureError(401, "Mastodon requires the created, @method and @target-uri components to be signed")
    key_id = params.split('keyid="', 1)[1].split('"', 1)[0] if 'keyid="' in params else ""
    if not key_id:
        raise SignatureError(401, "keyid missing")
    target_uri = "%s://%s%s" % (request.header("x-forwarded-proto") or request.scheme, request.header("host"), request.target)
    digest = hmac.new(signer_secret(key_id), rfc9421_base(request.method, target_uri, params).encode(), hashlib.sha256).digest()
    given = header_signature[len(label) + 2:].rstrip(":")
    if not hmac.compare_digest(base64.b64encode(digest).decode(), given):
        raise SignatureError(401, "Verification failed for %s" % key_id)
    created = int(params.split(";created=", 1)[1].split(";", 1)[0])
    if abs(time.time() - created) > CLOCK_SKEW:
        raise SignatureError(401, "Signed request date outside acceptable time window")
    return key_id


def signer_domain(key_id):
    return urllib.parse.urlsplit(key_id).hostname or ""


JSON = "application/json; charset=utf-8"
ACTIVITY = "application/activity+json; charset=utf-8"
HTML = "text/html; charset=utf-8"
PRIVATE = "private, no-store"


def expires_in(seconds, public, extra=""):
    """Rails' expires_in: `max-age=N, public` or `max-age=N, private` (no-store removed)."""
    return "max-age=%d, %s%s" % (seconds, "public" if public else "private", extra)


class App:
    def __init__(self, flavor="mastodon", authorized_fetch=False, domain="social.example"):
        self.flavor, self.authorized_fetch, self.domain = flavor, authorized_fetch, domain

    def respond(self, request):
        return {"mastodon": self._mastodon, "akkoma": self._akkoma, "gotosocial": self._gotosocial,
                "misskey": self._misskey}[self.flavor](request)

    # --- Mastodon -------------------------------------------------------
    def _mastodon(self, request):
        path, variant = request.path, accept_variant(request.header("accept"))
        try:
            signer = verify_signature(request)
            signature_error = None
        except SignatureError as error:
            signer, signature_error = None, error
        cookie, token = request.header("cookie"), request.header("authorization")
        locale = locale_for(request.header("accept-language"))
        af = self.authorized_fetch
        page_vary = "Accept, Accept-Language, Cookie" + (", Signature" if af else "")
        parts = [p for p in path.split("/") if p]

        if path.startswith("/api/"):
            return self._mastodon_api(request, parts, token)
        if path == "/.well-known/webfinger":
            resource = request.query.get("resource", "")
            if resource.startswith("acct:") and resource[5:].split("@")[0] in ("alice", "bob"):
                user = resource[5:].split("@")[0]
                body = {"subject": resource, "links": [{"rel": "self", "type": "application/activity+json",
                                                        "href": "https://%s/users/%s" % (self.domain, user)}]}
                return Answer(200, json.dumps(body).encode(), "application/jrd+json; charset=utf-8", expires_in(259200, True),
                              "Accept")
            return Answer(404, b"", JSON, expires_in(180, True))
        if path in ("/.well-known/nodeinfo", "/nodeinfo/2.0"):
            body = {"version": "2.0", "software": {"name": "mastodon", "version": "4.5.0"}}
            return Answer(200, json.dumps(body).encode(), JSON, expires_in(259200 if "well-known" in path else 1800, True))
        if path == "/actor":
            body = {"id": "https://%s/actor" % self.domain, "type": "Application"}
            return Answer(200, json.dumps(body).encode(), ACTIVITY, expires_in(600, True))

        # /@user/ID, /users/user/statuses/ID[/activity|/replies], /users/user[/outbox|/followers|…]
        user, status_id, tail = None, None, None
        if len(parts) >= 1 and parts[0].startswith("@"):
            user = parts[0][1:]
            status_id = parts[1] if len(parts) >= 2 else None
        elif len(parts) >= 2 and parts[0] in ("users", "ap"):
            if parts[0] == "ap":
                parts = parts[1:]
            user = parts[1] if len(parts) >= 2 else None
            if len(parts) >= 4 and parts[2] == "statuses":
                status_id, tail = parts[3], (parts[4] if len(parts) >= 5 else None)
            elif len(parts) >= 3:
                tail = parts[2]
        if user is None:
            return self._mastodon_other(request, locale, cookie)

        activitypub = variant in ("activitypub", "json")
        # The AP routes of signed-only controllers: unsigned fetches in authorized mode, bad signatures.
        if activitypub and (signature_error or (af and not signer)) and tail not in ("followers", "following"):
            if signature_error:
                return Answer(signature_error.status, json.dumps({"error": signature_error.reason}).encode(), JSON, PRIVATE,
                              page_vary)
            return Answer(401, json.dumps({"error": "Request not signed"}).encode(), JSON, PRIVATE, page_vary)

        if status_id is not None:
            if status_id in DELETED:
                return self._not_found(activitypub, page_vary)
            visibility, followers = PRIVATE_STATUSES.get(status_id, ("public", ()))
            may_see = visibility in ("public", "unlisted") or (signer and signer_domain(signer) in followers)
            if not activitypub and parts[0] == "users":
                # routes.rb redirect_with_vary: the HTML of /users/u/statuses/ID is /@u/ID.
                return Answer(301, b"", HTML, None, "Origin, Accept",
                              [("Location", "https://%s/@%s/%s" % (self.domain, user, status_id))])
            if not may_see:
                return self._not_found(activitypub, page_vary)
            if tail == "replies":
                vary = "Signature" if af else None
                cc = expires_in(0, visibility in ("public", "unlisted") and not af)
                body = {"type": "Collection", "id": "https://%s/users/%s/statuses/%s/replies" % (self.domain, user, status_id)}
                return self._enforce(request, Answer(200, json.dumps(body).encode(), ACTIVITY, cc, vary))
            if activitypub:
                distributable = visibility in ("public", "unlisted")
                cc = expires_in(180, True) if distributable and not af else PRIVATE
                note = {"@context": "https://www.w3.org/ns/activitystreams", "type": "Note",
                        "id": "https://%s/users/%s/statuses/%s" % (self.domain, user, status_id),
                        "content": "status %s by %s" % (status_id, user)}
                if cc == PRIVATE:
                    note["x-seen-by"] = signer or "anonymous"  # only in answers the app keeps private
                return self._enforce(request, Answer(200, json.dumps(note).encode(), ACTIVITY, cc, page_vary))
            # HTML: expires_in 10.seconds, public: true if current_account.nil?
            anonymous = not cookie and not signer
            cc = expires_in(10, True) if anonymous else PRIVATE
            return self._enforce(request, Answer(200, self._page(locale, "status %s by %s" % (status_id, user), signer, cookie),
                                                 HTML, cc, page_vary))

        # Accounts and their collections.
        if tail in ("followers", "following"):
            cc = expires_in(180, not af) if not request.query else expires_in(0, not af)
            body = {"type": "OrderedCollection", "totalItems": 3}
            return self._enforce(request, Answer(200, json.dumps(body).encode(), ACTIVITY, cc, page_vary))
        if tail == "outbox":
            page = bool(request.query)
            vary = "Signature" if (af or page) else None
            cc = expires_in(60, not af and not signer) if page else expires_in(180, not af)
            return self._enforce(request, Answer(200, json.dumps({"type": "OrderedCollection"}).encode(), ACTIVITY,
                                                 cc, vary))
        if tail in ("collections",):
            return self._enforce(request, Answer(200, b'{"type":"OrderedCollection"}', ACTIVITY, expires_in(180, not af)))
        if activitypub:
            cc = expires_in(180, not (af and signer))
            body = {"type": "Person", "id": "https://%s/users/%s" % (self.domain, user), "preferredUsername": user}
            return self._enforce(request, Answer(200, json.dumps(body).encode(), ACTIVITY, cc, page_vary))
        if parts[0] == "users":
            return Answer(301, b"", HTML, None, "Origin, Accept", [("Location", "https://%s/@%s" % (self.domain, user))])
        cc = expires_in(15, True, ", stale-while-revalidate=30, stale-if-error=3600") if not cookie else PRIVATE
        return self._enforce(request, Answer(200, self._page(locale, "profile of %s" % user, signer, cookie), HTML, cc,
                                             page_vary))

    def _mastodon_api(self, request, parts, token):
        path = request.path
        if path.rstrip("/") in ("/api/v1/instance", "/api/v2/instance", "/api/v1/custom_emojis", "/api/v1/trends/tags"):
            cc = "max-age=300, public, stale-while-revalidate=30, stale-if-error=86400"
            return Answer(200, json.dumps({"uri": self.domain, "path": path}).encode(), JSON, cc)
        if path.startswith(("/api/v1/timelines/public", "/api/v1/accounts/")):
            if token:
                return Answer(200, json.dumps({"timeline": path, "for": token}).encode(), JSON, PRIVATE, "Authorization")
            cc = "max-age=15, public, stale-while-revalidate=30, stale-if-error=86400"
            return Answer(200, json.dumps({"timeline": path}).encode(), JSON, cc, "Authorization")
        if not token:
            return Answer(401, json.dumps({"error": "The access token is invalid"}).encode(), JSON, PRIVATE, "Authorization")
        return Answer(200, json.dumps({"path": path, "for": token}).encode(), JSON, PRIVATE, "Authorization")

    def _mastodon_other(self, request, locale, cookie):
        # /about, /explore, / …: WebAppControllerConcern pages (vary_by 'Accept, Accept-Language, Cookie').
        cc = expires_in(10, True) if not cookie else PRIVATE
        vary = "Accept, Accept-Language, Cookie"
        if request.path.startswith("/auth/"):
            return Answer(200, self._page(locale, "sign in", None, cookie), HTML, PRIVATE, vary,
                          [("Set-Cookie", "_mastodon_session=%s; path=/; secure; HttpOnly; SameSite=Lax"
                            % hashlib.sha256(str(time.time()).encode()).hexdigest()[:16])])
        return self._enforce(request, Answer(200, self._page(locale, "page %s" % request.path, None, cookie), HTML, cc, vary))

    def _not_found(self, activitypub, vary):
        if activitypub:
            return Answer(404, json.dumps({"error": "Not Found"}).encode(), JSON, PRIVATE, vary)
        return Answer(404, b"<!DOCTYPE html><html><body><h1>404</h1></body></html>", HTML, PRIVATE, vary)

    def _enforce(self, request, answer):
        """CacheConcern#enforce_cache_control!: a header Vary names that the request carries → private, no-store."""
        vary = (answer.vary or "").lower()
        for name in ("cookie", "authorization", "signature"):
            if name in vary and request.header(name):
                answer.cache_control = PRIVATE
        return answer

    def _page(self, locale, what, signer, cookie):
        greeting = GREETINGS.get(locale, GREETINGS["en"])
        who = " signer=%s" % signer if signer else ""
        session = " session=%s" % cookie if cookie else ""
        return ('<!DOCTYPE html><html lang="%s"><body><p>%s — %s (lang=%s%s%s) at %.6f</p></body></html>'
                % (locale, greeting, what, locale, who, session, time.time())).encode()

    # --- Akkoma ---------------------------------------------------------
    def _akkoma(self, request):
        default_cc = "max-age=0, private, must-revalidate"  # Plug.Conn's default; Akkoma sets none on these
        variant = accept_variant(request.header("accept"))
        try:
            signer = verify_signature(request)
        except SignatureError:
            return Answer(404, b"Not found", "text/plain; charset=utf-8", default_cc)
        parts = [p for p in request.path.split("/") if p]
        if request.path.startswith(("/static/", "/emoji/", "/images/")):
            return Answer(200, b"static " + request.path.encode(), "application/octet-stream", "public, max-age=1209600")
        if request.path.startswith("/api/"):
            return Answer(200, json.dumps({"path": request.path}).encode(), JSON, default_cc)
        activitypub = variant in ("activitypub", "json")
        signed_only = parts[:1] in (["objects"], ["activities"], ["notice"]) or (len(parts) >= 3 and parts[0] == "users")
        if activitypub and signed_only and self.authorized_fetch and not signer:
            return Answer(401, b"Request not signed", "text/plain; charset=utf-8", default_cc)
        if activitypub and len(parts) == 2 and parts[0] == "users" and self.authorized_fetch and not signer:
            body = {"type": "Person", "id": "https://%s/users/%s" % (self.domain, parts[1]), "publicKey": {}}
            return Answer(200, json.dumps(body).encode(), ACTIVITY, default_cc)
        object_id = parts[-1] if parts else ""
        visibility, followers = PRIVATE_STATUSES.get(object_id, ("public", ()))
        if visibility not in ("public", "unlisted") and not (signer and signer_domain(signer) in followers):
            return Answer(404, json.dumps({"error": "Not found"}).encode(), JSON, default_cc)
        if activitypub:
            body = {"type": "Note", "id": "https://%s%s" % (self.domain, request.path), "x-seen-by": signer or "anonymous"}
            return Answer(200, json.dumps(body).encode(), ACTIVITY, default_cc, None, [("x-cache", "MISS from Pleroma")])
        return Answer(200, self._page("en", "akkoma page %s" % request.path, signer, request.header("cookie")), HTML, default_cc)

    # --- GoToSocial -----------------------------------------------------
    def _gotosocial(self, request):
        variant = accept_variant(request.header("accept"))
        parts = [p for p in request.path.split("/") if p]
        if request.path.endswith("/main-key"):
            return Answer(200, b'{"type":"Person"}', ACTIVITY, "public, max-age=604800", "Accept, Accept-Encoding")
        if parts[:1] == [".well-known"]:
            return Answer(200, b"{}", JSON, "public, max-age=120", "Accept-Encoding")
        if parts[:1] == ["users"] and variant == "html":
            return Answer(303, b"", HTML, "no-store", None, [("Location", "/@%s" % parts[1] if len(parts) > 1 else "/")])
        if variant in ("activitypub", "json") and parts[:1] == ["users"]:
            try:
                signer = verify_signature(request)
            except SignatureError as error:
                return Answer(401, json.dumps({"error": "Unauthorized: %s" % error.reason}).encode(), JSON, "no-store")
            if not signer:
                return Answer(401, json.dumps({"error": "Unauthorized: http request wasn't signed or http signature was "
                                                        "invalid: (verifier)"}).encode(), JSON, "no-store")
            object_id = parts[-1]
            visibility, followers = PRIVATE_STATUSES.get(object_id, ("public", ()))
            if visibility not in ("public", "unlisted") and signer_domain(signer) not in followers:
                return Answer(404, json.dumps({"error": "Not Found: status not visible to requesting account"}).encode(),
                              JSON, "no-store")
            body = {"type": "Note", "id": "https://%s%s" % (self.domain, request.path), "x-seen-by": signer}
            return Answer(200, json.dumps(body).encode(), ACTIVITY, "no-store")
        return Answer(200, self._page("en", "gotosocial page %s" % request.path, None, request.header("cookie")), HTML,
                      "no-store")

    # --- Misskey --------------------------------------------------------
    # Misskey's instance-level mediaProxy, as api/meta tells its clients.
    misskey_media_proxy = None

    def _misskey(self, request):
        variant = accept_variant(request.header("accept"))
        activitypub = variant in ("activitypub", "json")
        parts = [p for p in request.path.split("/") if p]
        if request.path.startswith("/api/"):
            if request.method != "POST":
                return Answer(405, json.dumps({"error": {"code": "METHOD_NOT_ALLOWED"}}).encode(), JSON)
            body = {"uri": "https://%s" % self.domain}
            if request.path == "/api/meta":
                body["mediaProxy"] = self.misskey_media_proxy or "https://%s/proxy" % self.domain
            return Answer(200, json.dumps(body).encode(), JSON)
        if parts[:1] == ["notes"] and len(parts) >= 2:
            note = parts[1]
            visibility, _ = PRIVATE_STATUSES.get(note, ("public", ()))
            visible = visibility == "public" and note not in DELETED
            if activitypub:
                if not visible:
                    return Answer(404, b"", "text/plain; charset=utf-8", None, "Accept")
                body = {"type": "Note", "id": "https://%s/notes/%s" % (self.domain, note), "at": time.time()}
                return Answer(200, json.dumps(body).encode(), ACTIVITY, "public, max-age=180", "Accept")
            if not visible:
                return Answer(200, self._page("en", "misskey base page", None, None), HTML, "public, max-age=30", "Accept")
            return Answer(200, self._page("en", "misskey note %s" % note, None, None), HTML, "public, max-age=15", "Accept")
        if parts[:1] == ["users"] or (parts and parts[0].startswith("@")):
            if activitypub:
                body = {"type": "Person", "id": "https://%s%s" % (self.domain, request.path), "at": time.time()}
                return Answer(200, json.dumps(body).encode(), ACTIVITY, "public, max-age=180")
            return Answer(200, self._page("en", "misskey user %s" % request.path, None, None), HTML, "public, max-age=15")
        return Answer(200, self._page("en", "misskey base page", None, None), HTML, "public, max-age=30")


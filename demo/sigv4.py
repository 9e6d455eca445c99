"""AWS Signature Version 4, checked the way S3 checks it, for the stand-in
bucket (demo/origin.py --bucket --s3-credentials KEY:SECRET): written from
the specification, independently of herd's Swift signer, so a test that
passes proves both agree with it (and Tests/UpstreamTests with AWS's own
examples).
"""
import calendar
import hashlib
import hmac
import time
import urllib.parse

EMPTY_PAYLOAD = hashlib.sha256(b"").hexdigest()
MAX_SKEW = 15 * 60  # S3: RequestTimeTooSkewed beyond 15 minutes


def _quote(text):
    return urllib.parse.quote(text, safe="-_.~")


def canonical_path(path):
    return "/".join(_quote(urllib.parse.unquote(segment)) for segment in (path or "/").split("/"))


def canonical_query(query):
    if not query:
        return ""
    pairs = []
    for item in query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((_quote(urllib.parse.unquote(name)), _quote(urllib.parse.unquote(value))))
    return "&".join("%s=%s" % pair for pair in sorted(pairs))


def signature(secret, region, service, method, path, query, headers, signed, payload_hash, amz_date):
    canonical_headers = "".join("%s:%s\n" % (name, " ".join(headers.get(name, "").split())) for name in signed)
    request = "\n".join([method, canonical_path(path), canonical_query(query), canonical_headers, ";".join(signed),
                         payload_hash])
    scope = "%s/%s/%s/aws4_request" % (amz_date[:8], region, service)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(request.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (amz_date[:8], region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def check(access_key, secret, method, path, query, headers, region="us-east-1", now=None):
    """None when the request is signed by access_key's secret, else S3's error code."""
    headers = {k.lower(): v for k, v in headers.items()}
    auth = headers.get("authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return "AccessDenied"
    fields = {}
    for part in auth[len("AWS4-HMAC-SHA256 "):].split(","):
        name, _, value = part.strip().partition("=")
        fields[name] = value
    credential = fields.get("Credential", "").split("/")
    if len(credential) != 5 or credential[0] != access_key:
        return "InvalidAccessKeyId"
    amz_date = headers.get("x-amz-date", "")
    try:
        when = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
    except ValueError:
        return "AccessDenied"
    if abs((now or time.time()) - when) > MAX_SKEW:
        return "RequestTimeTooSkewed"
    signed = fields.get("SignedHeaders", "").split(";")
    if "host" not in signed or credential[1] != amz_date[:8] or credential[2] != region or credential[3] != "s3":
        return "AuthorizationHeaderMalformed"
    expected = signature(secret, region, "s3", method, path, query, headers, signed,
                         headers.get("x-amz-content-sha256", EMPTY_PAYLOAD), amz_date)
    if not hmac.compare_digest(expected, fields.get("Signature", "")):
        return "SignatureDoesNotMatch"
    return None

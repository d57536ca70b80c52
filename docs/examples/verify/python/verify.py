"""Verifies wochit-ingest's callbacks in Python with the standard library only,
and checks that against the test vector:

    python3 verify.py ../vector.json
"""

import base64
import hashlib
import hmac
import json
import sys
import time

TOLERANCE_SECONDS = 5 * 60


class VerificationError(Exception):
    pass


def verify(secret, headers, body, now=None):
    """Checks one delivery and returns its event.

    secret is "whsec_<base64>"; headers maps lower-case header names to values;
    body is the exact bytes received (never re-encoded JSON); now is the unix
    time to judge webhook-timestamp by (the clock when None). Raises
    VerificationError unless webhook-timestamp is within 5 minutes of now and a
    "v1," signature in webhook-signature is the HMAC-SHA256, keyed with the
    decoded secret, of "<webhook-id>.<webhook-timestamp>.<body>".
    """
    msg_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not msg_id or not timestamp or not signatures:
        raise VerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        sent = int(timestamp)
    except ValueError:
        raise VerificationError("webhook-timestamp is not a unix time") from None
    now = time.time() if now is None else now
    if abs(now - sent) > TOLERANCE_SECONDS:
        raise VerificationError("webhook-timestamp is more than 5 minutes away from now")

    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    for candidate in signatures.split(" "):
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            return json.loads(body)
    raise VerificationError("no signature matches")


# In a handler (Flask shown; any framework that gives the raw body works):
#
#   @app.post("/hooks/wochit")
#   def wochit_callback():
#       try:
#           event = verify(SECRET, {k.lower(): v for k, v in request.headers.items()}, request.get_data())
#       except VerificationError:
#           return "invalid signature", 401
#       store(request.headers["webhook-id"], event)  # nothing to do if that id is stored already
#       return "", 204                               # answer 5xx, never 4xx, when you cannot store it now


def main(path):
    with open(path, encoding="utf-8") as f:
        v = json.load(f)
    headers = {"webhook-id": v["id"], "webhook-timestamp": v["timestamp"], "webhook-signature": v["signature"]}
    body = v["body"].encode("utf-8")
    sent = int(v["timestamp"])
    tampered = body.replace(b'"size":50331648', b'"size":50331649')
    failed = False

    def check(what, body, now, want_valid):
        nonlocal failed
        try:
            verify(v["secret"], headers, body, now=now)
            valid = True
        except VerificationError:
            valid = False
        ok = valid == want_valid
        failed = failed or not ok
        print(f"  {what:<52} {'ok' if ok else 'FAILED: ' + ('verified' if valid else 'rejected')}")

    check("the vector verifies", body, sent + 2, True)
    check("a tampered body is rejected", tampered, sent, False)
    check("a stale timestamp (6 minutes old) is rejected", body, sent + 6 * 60, False)
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: verify.py vector.json")
    sys.exit(main(sys.argv[1]))

#!/usr/bin/env python3
"""Independent checker for docs/test-vectors/envelopes.json (Python 3 standard library only).

Implements DSSE v1 PAE and strict Ed25519 verification from RFC 8032 without any crypto
library, and confirms that every case gets its stated verdict:

  valid  <=>  envelope.payloadType == expected_type
              and some signature verifies strictly under public_key over
              PAE(payloadType, payload) = "DSSEv1 <len(type)> <type> <len(payload)> <payload>"

Strict rules: base64 must be canonical standard base64 with padding; a signature is 64 bytes;
S < L; A and R must be canonical point encodings (y < p, no "negative zero" x) and must not
have small order; the check is cofactorless: encode([S]B - [k]A) == R.

Usage: python3 docs/test-vectors/check_envelopes.py [path/to/envelopes.json]
Exit status 0 iff every case agrees.
"""
import base64
import binascii
import hashlib
import json
import os
import sys

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
IDENTITY = (0, 1, 1, 0)


def add(p1, p2):
    """Point addition in extended coordinates (RFC 8032 section 5.1.4)."""
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * t1 * t2 * D % P
    dd = 2 * z1 * z2 % P
    e, f, g, h = b - a, dd - c, dd + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def mul(s, pt):
    q = IDENTITY
    while s > 0:
        if s & 1:
            q = add(q, pt)
        pt = add(pt, pt)
        s >>= 1
    return q


def neg(pt):
    x, y, z, t = pt
    return ((-x) % P, y, z, (-t) % P)


def encode(pt):
    x, y, z, _ = pt
    zi = pow(z, P - 2, P)
    x, y = x * zi % P, y * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def decode(b):
    """Decode a point (RFC 8032 section 5.1.3); None if not a canonical encoding of a point."""
    if len(b) != 32:
        return None
    n = int.from_bytes(b, "little")
    sign, y = n >> 255, n & ((1 << 255) - 1)
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    if x2 == 0:
        if sign:
            return None
        x = 0
    else:
        x = pow(x2, (P + 3) // 8, P)
        if (x * x - x2) % P != 0:
            x = x * SQRT_M1 % P
        if (x * x - x2) % P != 0:
            return None
        if (x & 1) != sign:
            x = P - x
    return (x, y, 1, x * y % P)


def is_small_order(pt):
    return encode(mul(8, pt)) == encode(IDENTITY)


BY = 4 * pow(5, P - 2, P) % P
B = decode(BY.to_bytes(32, "little"))


def verify_strict(pub, msg, sig, lenient=False):
    if len(sig) != 64:
        return False
    a, r = decode(pub), decode(sig[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(sig[32:], "little")
    if not lenient and (s >= L or is_small_order(a) or is_small_order(r)):
        return False
    k = int.from_bytes(hashlib.sha512(sig[:32] + pub + msg).digest(), "little") % L
    return encode(add(mul(s, B), neg(mul(k, a)))) == sig[:32]


def b64(s):
    """Strict standard base64: alphabet, padding and canonical trailing bits."""
    try:
        raw = base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode() == s else None


def pae(payload_type, payload):
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def image_matches(payload, image):
    """A screenshot record (protocol.md section 18) signs its image's SHA-256 and length."""
    record = json.loads(payload)
    if image is None or record.get("sha256") != hashlib.sha256(image).hexdigest():
        return False, "the record does not sign this image's SHA-256"
    if record.get("bytes") != len(image):
        return False, "the record does not sign this image's length"
    return True, "signature verifies and signs the image's SHA-256 and length"


def verdict(case):
    env = case["envelope"]
    if env.get("payloadType") != case["expected_type"]:
        return False, "payloadType differs from expected_type"
    pub, payload = b64(case["public_key"]), b64(env.get("payload", ""))
    if pub is None or payload is None:
        return False, "bad base64"
    msg = pae(env["payloadType"], payload)
    for sig in env.get("signatures", []):
        raw = b64(sig.get("sig", ""))
        if raw is not None and verify_strict(pub, msg, raw):
            if "image" in case:
                return image_matches(payload, b64(case["image"]))
            return True, "signature verifies"
    return False, "no signature verifies strictly"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "envelopes.json")
    with open(path, encoding="utf-8") as f:
        cases = json.load(f)
    assert encode(B) == BY.to_bytes(32, "little") and is_small_order(B) is False
    # Self-test with RFC 8032 section 7.1, TEST 1 (empty message).
    pk1 = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    sig1 = bytes.fromhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                         "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
    assert verify_strict(pk1, b"", sig1) and not verify_strict(pk1, b"x", sig1)
    failures = 0
    for case in cases:
        ok, why = verdict(case)
        agree = ok == case["valid"]
        failures += not agree
        print("%-4s %-36s valid=%-5s (%s)" % ("ok" if agree else "FAIL", case["name"], ok, why))
    # The small-order and S+L cases must be rejected only because of the strict rules.
    for case in cases:
        if case["name"] in ("small-order-public-key", "non-canonical-s"):
            env = case["envelope"]
            msg = pae(env["payloadType"], b64(env["payload"]))
            sig = b64(env["signatures"][0]["sig"])
            lenient = verify_strict(b64(case["public_key"]), msg, sig, lenient=True)
            print("info %-36s a non-strict verifier would accept: %s" % (case["name"], lenient))
    print("%d cases, %d disagreements" % (len(cases), failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

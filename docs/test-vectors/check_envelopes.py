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

It also checks approvals.json beside it (docs/protocol.md section 18): policy chains (root
threshold counted over DISTINCT key ids of the trusting root set, version strictly increasing,
expiry) and coverage (approvals by distinct approver keys of the policy, in force, in scope,
naming the exact media or the SHA-256 of the exact alert text bytes).

Usage: python3 docs/test-vectors/check_envelopes.py [path/to/envelopes.json]
Exit status 0 iff every case agrees.
"""
import base64
import binascii
import datetime
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


def key_id(pub):
    return hashlib.sha256(pub).hexdigest()[:16]


def ts(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def signers(env, candidates):
    """Distinct key ids of `candidates` (id -> public key bytes) whose signature verifies."""
    payload = b64(env["payload"])
    msg = pae(env["payloadType"], payload)
    out = set()
    for sig in env["signatures"]:
        pub = candidates.get(sig["keyid"])
        raw = b64(sig["sig"])
        if pub is not None and raw is not None and verify_strict(pub, msg, raw):
            out.add(sig["keyid"])
    return out


POLICY_FIELDS = {"version", "issued_at", "expires_at", "root_keys", "root_threshold",
                 "approvers", "media_threshold", "alert_threshold"}


def policy_payload(env):
    if env["payloadType"] != "application/vnd.gatecast.policy+json":
        raise ValueError("not a policy envelope")
    p = json.loads(b64(env["payload"]))
    if set(p) != POLICY_FIELDS:
        raise ValueError("policy members differ: %s" % sorted(set(p) ^ POLICY_FIELDS))
    for field in ("root_keys", "approvers"):
        ids = [k["key_id"] for k in p[field]]
        if len(ids) != len(set(ids)):
            raise ValueError("a key is listed twice in " + field)
        for k in p[field]:
            if key_id(b64(k["public_key"])) != k["key_id"]:
                raise ValueError("key_id is not the id of its key")
    for t, n in (("root_threshold", len(p["root_keys"])), ("media_threshold", len(p["approvers"])),
                 ("alert_threshold", len(p["approvers"]))):
        if not 1 <= p[t] <= n:
            raise ValueError(t + " out of range")
    if p["version"] < 1 or ts(p["expires_at"]) <= ts(p["issued_at"]):
        raise ValueError("version or validity window")
    return p


def verify_policy(env, pinned, held, now, check_expiry):
    p = policy_payload(env)
    if held is None:
        trusting, needed = [k for k in p["root_keys"] if k["key_id"] in pinned], p["root_threshold"]
    else:
        if p["version"] <= held["version"]:
            raise ValueError("not newer")
        trusting, needed = held["root_keys"], held["root_threshold"]
    found = signers(env, {k["key_id"]: b64(k["public_key"]) for k in trusting})
    if len(found) < needed:
        raise ValueError("%d of %d root signatures" % (len(found), needed))
    if check_expiry and ts(p["expires_at"]) <= now:
        raise ValueError("expired")
    return p


def verify_chain(chain, pinned, held, now):
    """The newest policy reached from `held` (or the pinned ids), None if nothing newer."""
    current, newest = held, None
    for i, env in enumerate(chain):
        last = i + 1 == len(chain)
        if current is not None:
            v = json.loads(b64(env["payload"])).get("version")
            if isinstance(v, int) and v <= current["version"]:
                if last and newest is None and v < current["version"]:
                    raise ValueError("not newer")
                continue
        current = verify_policy(env, pinned, current, now, last)
        newest = current
    return newest


def covers(policy, approvals, item, gate, now):
    """Distinct approver key ids whose approvals name `item` (media dict or text dict)."""
    candidates = {a["key_id"]: b64(a["public_key"]) for a in policy["approvers"]}
    ids = set()
    for env in approvals:
        if env["payloadType"] != "application/vnd.gatecast.approval+json":
            continue
        who = signers(env, candidates)
        a = json.loads(b64(env["payload"]))
        scope = a["scope"]
        in_scope = scope.get("all") is True or gate in scope.get("gates", [])
        if not who or not in_scope or not ts(a["not_before"]) <= now < ts(a["not_after"]):
            continue
        if item in a.get("media", []) + a.get("texts", []):
            ids |= who
    return ids


def check_approvals(path):
    with open(path, encoding="utf-8") as f:
        v = json.load(f)
    now, gate, pinned = ts(v["now"]), v["gate"], v["pinned_roots"]
    failures = 0
    for case in v["policy_cases"]:
        chain = [v["policies"][n] for n in case["chain"]]
        held = policy_payload(v["policies"][case["held"]]) if case["held"] else None
        try:
            p = verify_chain(chain, pinned, held, now)
            got, why = (p["version"] if p else None), "verifies"
        except (ValueError, KeyError) as e:
            got, why = None, str(e)
        agree = got == case["version"]
        failures += not agree
        print("%-4s %-36s version=%-5s (%s)" % ("ok" if agree else "FAIL", case["name"], got, why))
    m = v["media"]
    media_item = {"sha256": m["sha256"], "title": m["title"], "lang": m["lang"], "kind": m["kind"]}
    t = v["alert_text"]
    text_item = {"sha256": hashlib.sha256(t["text"].encode()).hexdigest(), "lang": t["lang"]}
    for case in v["coverage_cases"]:
        policy = policy_payload(v["policies"][case["policy"]])
        if case["kind"] == "media":
            item, needed = media_item, policy["media_threshold"]
        else:
            item, needed = text_item, policy["alert_threshold"]
        have = covers(policy, case["approvals"], item, gate, now)
        ok = len(have) >= needed
        agree = ok == case["valid"]
        failures += not agree
        print("%-4s %-36s valid=%-5s (%d of %d distinct approvers)"
              % ("ok" if agree else "FAIL", case["name"], ok, len(have), needed))
    return failures


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
    approvals = os.path.join(os.path.dirname(os.path.abspath(path)), "approvals.json")
    if os.path.exists(approvals):
        bad = check_approvals(approvals)
        print("approvals.json: %d disagreements" % bad)
        failures += bad
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

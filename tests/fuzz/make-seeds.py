#!/usr/bin/env python3
"""Writes the committed seed corpora under tests/fuzz/corpus/<target>/ from docs/test-vectors/.

Run from anywhere: python3 tests/fuzz/make-seeds.py  (deterministic; rewrites the seed files).
The input layouts are described at the top of each fuzz_targets/<target>.rs.
"""
import base64
import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, "..", "..", "docs", "test-vectors")
CORPUS = os.path.join(HERE, "corpus")


def load(name):
    with open(os.path.join(VECTORS, name), encoding="utf-8") as f:
        return json.load(f)


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


envelopes = load("envelopes.json")
receipts = load("receipts.json")

# A richer manifest payload than the vectors' one: windows (one across midnight), weekdays,
# dates, priorities, language variants.
SHA = ["%064x" % n for n in range(1, 4)]
RICH = {
    "screen": "lao-cai-1", "version": 9, "issued_at": "2025-11-26T08:00:00Z",
    "expires_at": "2026-02-04T01:00:00+07:00", "timezone": "Europe/Berlin",
    "languages": ["vi", "en", "zh-Hans"],
    "media": [
        {"sha256": SHA[0], "bytes": 8, "mime": "image/png", "kind": "slide", "lang": "vi",
         "title": "Chào", "duration_ms": 10000},
        {"sha256": SHA[1], "bytes": 8, "mime": "image/png", "kind": "slide", "lang": "en",
         "title": "Hello"},
        {"sha256": SHA[2], "bytes": 9, "mime": "video/mp4", "kind": "video", "lang": "zxx",
         "title": ""},
    ],
    "playlists": [
        {"id": "welcome", "name": "", "items": [
            {"media": SHA[0], "duration_ms": 8000, "variants": [SHA[1]]}, {"media": SHA[2]}]},
        {"id": "night", "name": "Night", "items": [{"media": SHA[2]}]},
    ],
    "schedule": [
        {"id": "night", "playlist": "night", "priority": 5, "weekdays": ["fri", "sat"],
         "start": "22:00", "end": "02:00"},
        {"id": "dec", "playlist": "welcome", "priority": 1, "from": "2025-12-01",
         "until": "2025-12-31", "start": "02:30", "end": "02:30"},
    ],
    "fallback": "welcome",
}
ALERTS = {
    "screen": "lao-cai-1", "version": 2, "issued_at": "2025-11-26T08:00:00Z",
    "alerts": [{"id": "storm", "priority": 3, "expires_at": "2025-12-02T00:00:00Z",
                "text": [{"lang": "vi", "text": "Bão"}, {"lang": "en", "text": "Storm\nwarning"}]}],
}

# envelope_verify and manifest_verify: every published envelope, as received.
for c in envelopes:
    env = compact(c["envelope"])
    write("envelope_verify", c["name"], env)
    write("manifest_verify", c["name"], b"\x00" + env)
for c in receipts["cases"]:
    write("envelope_verify", "receipts-" + c["name"], compact(c["envelope"]))
write("manifest_verify", "valid-manifest-last-3",
      b"\x83" + compact(envelopes[0]["envelope"]))

# manifest_verify_signed: payloads (byte 0: type 0 = manifest, 1 = alert; bit 7 + bits 3-6 =
# last accepted version).
manifest_payload = base64.b64decode(envelopes[0]["envelope"]["payload"])
write("manifest_verify_signed", "vector-manifest", b"\x00" + manifest_payload)
write("manifest_verify_signed", "vector-manifest-last-7", bytes([0x80 | (7 << 3)]) + manifest_payload)
write("manifest_verify_signed", "rich-manifest", b"\x00" + compact(RICH))
write("manifest_verify_signed", "alerts", b"\x01" + compact(ALERTS))
write("manifest_verify_signed", "manifest-as-alert", b"\x01" + manifest_payload)

# receipt_batch_verify: mode 0 (payload signed here) and mode 2 (envelope as received), with the
# stored prefix of the vector chain the case expects; mode 3 acks; mode 1 structured.
for c in receipts["cases"]:
    k = len(c["stored"])
    header = bytes([k]) + bytes(8) + b"\x00"
    payload = base64.b64decode(c["envelope"]["payload"])
    write("receipt_batch_verify", "signed-" + c["name"], b"\x00" + header + payload)
    write("receipt_batch_verify", "raw-" + c["name"], b"\x02" + header + compact(c["envelope"]))
write("receipt_batch_verify", "ack", b'\x03{"screen":"lao-cai-1","upto_seq":3}')
rng = random.Random(9)
for i in range(6):
    body = bytes(rng.getrandbits(8) & 0x7F for _ in range(120))  # mostly fault-free receipts
    write("receipt_batch_verify", "structured-%d" % i, b"\x01" + bytes([i % 5]) + body)

# schedule_resolve: deterministic random structures.
for i in range(8):
    write("schedule_resolve", "random-%d" % i, bytes(rng.getrandbits(8) for _ in range(200)))

# upload_metadata: query \n content-type \n range \n length \n sha \n head bytes.
def upload(q, ct, rng_hdr, length, sha, head):
    return b"\n".join([q.encode(), ct.encode(), rng_hdr.encode(), str(length).encode(),
                       sha.encode(), head])

write("upload_metadata", "png", upload("kind=slide&lang=vi&title=Ch%C3%A0o+m%E1%BB%ABng",
      "image/png", "bytes=0-3", 100, SHA[0], b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
write("upload_metadata", "mp4", upload("kind=video&lang=zh-Hans&duration_ms=42000",
      "video/mp4; codecs=avc1", "bytes=-4", 10, "../../etc/passwd",
      b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00"))
write("upload_metadata", "webm", upload("kind=clip&lang=en-GB-x-gate&title=",
      "VIDEO/WEBM", "bytes=5-", 0, SHA[1].upper(), b"\x1a\x45\xdf\xa3\x01\x00"))
write("upload_metadata", "wav", upload("kind=clip&lang=sgn-ase-Latn-US-1994-a-bc-x-y",
      "audio/wav", "bytes=1-2,4-5", 7, SHA[2], b"RIFF\x24\x00\x00\x00WAVEfmt "))
write("upload_metadata", "mismatch", upload("kind=slide&lang=x-private&title=%ZZ%",
      "image/jpeg", "items=0-1", 18446744073709551615, "", b"GIF89a\x01\x00"))

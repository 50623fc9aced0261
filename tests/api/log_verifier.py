"""An independent verifier of leadx receipts, signed tree heads and the transparency log, for the API tests.

Nothing here shares code with the C side: its own RFC 8785 canonicaliser for the receipt value space (objects,
arrays, strings, integers, booleans, null), strict unpadded base64url, Ed25519 from Debian's python3-cryptography
(OpenSSL), SHA-256 from hashlib, and RFC 6962 / RFC 9162 Merkle trees written from the RFCs: MTH, PATH and PROOF
computed from the leaves (the reference the server's proofs must equal), and the RFC 9162 §2.1.3.2 / §2.1.4.2
verification algorithms step by step.

Every check raises VerifyError naming what failed; documents are parsed with duplicate keys refused.
"""
import base64
import binascii
import hashlib
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

RECEIPT_CONTEXT = b"leadx-receipt-v1\n"
HEAD_CONTEXT = b"leadx-tree-head-v1\n"
KINDS = ("deposit", "sale", "refund", "settlement", "payout", "withdrawal")
MAX_SAFE = 2 ** 53 - 1


class VerifyError(Exception):
    pass


def fail(msg):
    raise VerifyError(msg)


# ---- parsing and canonical JSON (RFC 8785 for this value space) ------------------------------------------------


def _no_duplicates(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            fail(f"duplicate key {k!r}")
        obj[k] = v
    return obj


def _no_floats(s):
    fail(f"a number that is not an integer: {s}")


def loads(text):
    """Strict JSON: duplicate keys and non-integer numbers refused."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_float=_no_floats,
                          parse_constant=_no_floats)
    except VerifyError:
        raise
    except (ValueError, UnicodeDecodeError) as e:
        raise VerifyError(f"not JSON: {e}") from None


_SHORT = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\"}


def _jcs_string(s):
    out = ['"']
    for ch in s:
        c = ord(ch)
        if c in _SHORT:
            out.append(_SHORT[c])
        elif c < 0x20:
            out.append(f"\\u{c:04x}")
        elif 0xD800 <= c <= 0xDFFF:
            fail("a lone surrogate in a string")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _utf16_key(k):
    return k.encode("utf-16-be")  # RFC 8785 §3.2.3: sort by UTF-16 code units


def jcs(v):
    """RFC 8785 canonical JSON text of a value of the receipt value space."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        if abs(v) > MAX_SAFE:
            fail(f"integer {v} outside the exact range")
        return str(v)
    if isinstance(v, str):
        return _jcs_string(v)
    if isinstance(v, list):
        return "[" + ",".join(jcs(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(_jcs_string(k) + ":" + jcs(v[k]) for k in sorted(v, key=_utf16_key)) + "}"
    fail(f"a value outside the receipt value space: {type(v).__name__}")


def jcs_bytes(v):
    return jcs(v).encode("utf-8")


# ---- base64url, strict -----------------------------------------------------------------------------------------

_B64_ALPHABET = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def b64e(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64d(s, nbytes, what):
    """Unpadded base64url of exactly nbytes, the one canonical encoding only."""
    if not isinstance(s, str) or not s or any(c not in _B64_ALPHABET for c in s):
        fail(f"{what}: not unpadded base64url")
    try:
        raw = base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    except (binascii.Error, ValueError):
        fail(f"{what}: not base64url")
    if len(raw) != nbytes or b64e(raw) != s:
        fail(f"{what}: not the canonical encoding of {nbytes} bytes")
    return raw


# ---- keys --------------------------------------------------------------------------------------------------------


class Keyring:
    """GET /v1/receipts/keys: {"keys": [{"key_id", "public_key", "not_before", "not_after"}]}."""

    def __init__(self, doc):
        if not isinstance(doc, dict) or set(doc) != {"keys"} or not isinstance(doc["keys"], list):
            fail("keys document: expected {\"keys\": [...]}")
        self.keys = {}
        for k in doc["keys"]:
            if set(k) != {"key_id", "public_key", "not_before", "not_after"}:
                fail(f"keys document: bad member set {sorted(k)}")
            pk = b64d(k["public_key"], 32, "public_key")
            if hashlib.blake2b(pk, digest_size=32).hexdigest()[:16] != k["key_id"]:
                fail(f"key {k['key_id']}: key_id does not match its public key")
            self.keys[k["key_id"]] = (Ed25519PublicKey.from_public_bytes(pk), k["not_before"], k["not_after"])

    @classmethod
    def from_secret_key_file(cls, path, not_before="1970-01-01T00:00:00.000000Z"):
        """When the keys endpoint is not there: libsodium's 64-byte secret key is seed || public key."""
        raw = open(path, "rb").read()
        assert len(raw) == 64, f"{path}: {len(raw)} bytes"
        pk = raw[32:]
        kid = hashlib.blake2b(pk, digest_size=32).hexdigest()[:16]
        return cls({"keys": [{"key_id": kid, "public_key": b64e(pk), "not_before": not_before, "not_after": None}]})

    def verify(self, key_id, when, message, signature_b64, what):
        if key_id not in self.keys:
            fail(f"{what}: unknown key_id {key_id!r}")
        key, not_before, not_after = self.keys[key_id]
        sig = b64d(signature_b64, 64, f"{what} signature")
        if not isinstance(when, str) or when < not_before or (not_after is not None and when > not_after):
            fail(f"{what}: {when!r} is outside the validity of key {key_id}")
        try:
            key.verify(sig, message)
        except InvalidSignature:
            fail(f"{what}: signature does not verify")


# ---- receipts and entries ----------------------------------------------------------------------------------------

_SALE_FIELDS = ("lead_digest", "mode", "share_index")


def verify_receipt(receipt, ring):
    """Exactly {body, key_id, signature}, a signature by a published key valid at issued_at."""
    if not isinstance(receipt, dict) or set(receipt) != {"body", "key_id", "signature"}:
        fail(f"receipt: member set {sorted(receipt) if isinstance(receipt, dict) else receipt!r}")
    body = receipt["body"]
    if not isinstance(body, dict):
        fail("receipt body: not an object")
    for k in ("v", "id", "kind", "issued_at", "account", "ledger_txn", "amount", "currency"):
        if k not in body:
            fail(f"receipt body: no {k}")
    if body["v"] != 1 or body["kind"] not in KINDS or not isinstance(body["amount"], int) \
            or isinstance(body["amount"], bool):
        fail("receipt body: bad v, kind or amount")
    if body["kind"] in ("sale", "refund"):
        for k in ("lead_id", "sale_id", *_SALE_FIELDS):
            if k not in body:
                fail(f"receipt body: a {body['kind']} without {k}")
    ring.verify(receipt["key_id"], body["issued_at"], RECEIPT_CONTEXT + jcs_bytes(body), receipt["signature"],
                "receipt")
    return body


def receipt_hash(receipt):
    return b64e(hashlib.sha256(jcs_bytes(receipt)).digest())


def entry_of(receipt):
    """The log entry a receipt makes."""
    body = receipt["body"]
    sale = body["kind"] in ("sale", "refund")
    return {"kind": body["kind"], "receipt_hash": receipt_hash(receipt),
            "lead_digest": body["lead_digest"] if sale else None, "mode": body["mode"] if sale else None,
            "share_index": body["share_index"] if sale else None}


def check_entry(entry):
    if not isinstance(entry, dict) or set(entry) != {"kind", "receipt_hash", "lead_digest", "mode", "share_index"}:
        fail(f"entry: member set {sorted(entry) if isinstance(entry, dict) else entry!r}")
    if entry["kind"] not in KINDS:
        fail("entry: unknown kind")
    b64d(entry["receipt_hash"], 32, "entry receipt_hash")


def verify_head(head, ring):
    """A signed tree head: exactly its five members, the signature over the three signed ones. Returns
    (tree_size, root bytes)."""
    if not isinstance(head, dict) or set(head) != {"tree_size", "root_hash", "timestamp", "key_id", "signature"}:
        fail(f"head: member set {sorted(head) if isinstance(head, dict) else head!r}")
    size = head["tree_size"]
    if not isinstance(size, int) or isinstance(size, bool) or size < 0 or size > MAX_SAFE:
        fail("head: bad tree_size")
    root = b64d(head["root_hash"], 32, "head root_hash")
    signed = {"tree_size": size, "root_hash": head["root_hash"], "timestamp": head["timestamp"]}
    ring.verify(head["key_id"], head["timestamp"], HEAD_CONTEXT + jcs_bytes(signed), head["signature"], "head")
    return size, root


def verify_item(item, ring, expect_head=None):
    """One GET /v1/receipts/{id} answer or export line: the receipt's signature, and when sequenced its entry, the
    inclusion proof against the head and the head's signature. Returns (log_index or None, leaf hash or None)."""
    if not isinstance(item, dict) or set(item) != {"receipt", "entry", "log_index", "inclusion_proof", "head"}:
        fail(f"item: member set {sorted(item) if isinstance(item, dict) else item!r}")
    verify_receipt(item["receipt"], ring)
    if item["log_index"] is None:
        if item["entry"] is not None or item["inclusion_proof"] is not None or item["head"] is not None:
            fail("item: entry, proof or head without a log_index")
        return None, None
    check_entry(item["entry"])
    if item["entry"] != entry_of(item["receipt"]):
        fail("item: the entry is not the one its receipt makes")
    index = item["log_index"]
    proof = item["inclusion_proof"]
    if not isinstance(proof, dict) or set(proof) != {"log_index", "tree_size", "hashes"}:
        fail("item: bad inclusion_proof")
    if proof["log_index"] != index or type(index) is not int:
        fail("item: the proof's log_index differs")
    size, root = verify_head(item["head"], ring)
    if proof["tree_size"] != size or type(proof["tree_size"]) is not int:
        fail("item: the proof's tree_size is not the head's")
    if expect_head is not None and item["head"] != expect_head:
        fail("item: proven against another head")
    if not isinstance(proof["hashes"], list):
        fail("item: hashes not a list")
    path = [b64d(h, 32, "proof hash") for h in proof["hashes"]]
    leaf = leaf_hash(jcs_bytes(item["entry"]))
    if not verify_inclusion(index, size, leaf, path, root):
        fail("item: the inclusion proof does not verify")
    return index, leaf


# ---- RFC 6962 trees ----------------------------------------------------------------------------------------------


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n):
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves):
    """MTH(D[n]) of RFC 6962 §2.1 over leaf hashes."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = _split(n)
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def ref_path(m, leaves):
    """PATH(m, D[n]) of RFC 6962 §2.1.1."""
    n = len(leaves)
    if n <= 1:
        return []
    k = _split(n)
    if m < k:
        return ref_path(m, leaves[:k]) + [mth(leaves[k:])]
    return ref_path(m - k, leaves[k:]) + [mth(leaves[:k])]


def _subproof(m, leaves, b):
    n = len(leaves)
    if m == n:
        return [] if b else [mth(leaves)]
    k = _split(n)
    if m <= k:
        return _subproof(m, leaves[:k], b) + [mth(leaves[k:])]
    return _subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


def ref_proof(m, leaves):
    """PROOF(m, D[n]) of RFC 6962 §2.1.2 (0 < m <= n)."""
    return _subproof(m, leaves, True)


def verify_inclusion(index, size, leaf, path, root):
    """RFC 9162 §2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_hash, second_hash, path):
    """RFC 9162 §2.1.4.2 for 0 < first < second; first == second holds iff the proof is empty and the roots are
    equal (PROOF(n, D[n]) is empty)."""
    if first == second:
        return not path and first_hash == second_hash
    if first <= 0 or first > second or not path:
        return False
    path = list(path)
    if first & (first - 1) == 0:  # an exact power of two
        path = [first_hash] + path
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0

"""Static checks of api/openapi.yaml: it parses, every $ref resolves, every schema is valid JSON Schema 2020-12,
the operations are the contracted ones, and response objects are closed (required + additionalProperties: false).
Needs no server."""
import re
import unittest

from jsonschema import Draft202012Validator

from harness import CONTRACT, PROBLEM_STATUS, main

SPEC = CONTRACT.spec
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

OPERATIONS = {
    ("get", "/healthz"): "getHealth",
    ("get", "/readyz"): "getReady",
    ("get", "/metrics"): "getMetrics",
    ("get", "/v1/me"): "getMe",
    ("post", "/v1/accounts"): "createAccount",
    ("get", "/v1/accounts"): "listAccounts",
    ("get", "/v1/accounts/{id}"): "getAccount",
    ("get", "/v1/accounts/{id}/keys"): "listKeys",
    ("post", "/v1/accounts/{id}/keys"): "createKey",
    ("delete", "/v1/accounts/{id}/keys/{key_id}"): "revokeKey",
    ("patch", "/v1/accounts/{id}"): "updateAccount",
    ("post", "/v1/accounts/{id}/deposits"): "createDeposit",
    ("post", "/v1/accounts/{id}/payouts"): "createPayout",
    ("post", "/v1/accounts/{id}/withdrawals"): "createWithdrawal",
    ("get", "/v1/accounts/{id}/statement"): "getStatement",
    ("get", "/v1/accounts/{id}/balance"): "getBalance",
    ("get", "/v1/ledger"): "listLedgerEntries",
    ("get", "/v1/ledger/platform"): "getPlatformBooks",
    ("post", "/v1/niches"): "createNiche",
    ("get", "/v1/niches"): "listNiches",
    ("get", "/v1/niches/{slug}"): "getNiche",
    ("patch", "/v1/niches/{slug}"): "updateNiche",
    ("get", "/v1/regions"): "listRegions",
    ("post", "/v1/campaigns"): "createCampaign",
    ("get", "/v1/campaigns"): "listCampaigns",
    ("get", "/v1/campaigns/{id}"): "getCampaign",
    ("patch", "/v1/campaigns/{id}"): "updateCampaign",
    ("post", "/v1/campaigns/{id}/pause"): "pauseCampaign",
    ("post", "/v1/campaigns/{id}/resume"): "resumeCampaign",
    ("post", "/v1/leads"): "createLead",
    ("post", "/v1/leads/batch"): "createLeadBatch",
    ("get", "/v1/leads"): "listLeads",
    ("get", "/v1/leads/{id}"): "getLead",
    ("delete", "/v1/leads/{id}/contact"): "eraseLeadContact",
    ("post", "/v1/erasures"): "createErasure",
    ("get", "/v1/market/leads"): "listMarketLeads",
    ("post", "/v1/market/leads/{id}/purchase"): "purchaseMarketLead",
    ("get", "/v1/purchases"): "listPurchases",
    ("get", "/v1/purchases/{id}"): "getPurchase",
    ("post", "/v1/purchases/{id}/return"): "returnPurchase",
    ("get", "/v1/returns/reasons"): "listReturnReasons",
    ("get", "/v1/returns"): "listReturns",
    ("get", "/v1/returns/{id}"): "getReturn",
    ("post", "/v1/returns/{id}/decision"): "decideReturn",
    ("post", "/v1/returns/{id}/contest"): "contestReturn",
    ("get", "/v1/receipts/keys"): "getReceiptKeys",
    ("get", "/v1/receipts"): "listReceipts",
    ("get", "/v1/receipts/export"): "exportReceipts",
    ("get", "/v1/receipts/{id}"): "getReceipt",
    ("get", "/v1/log/head"): "getLogHead",
    ("get", "/v1/log/heads"): "listLogHeads",
    ("get", "/v1/log/consistency"): "getLogConsistency",
    ("get", "/v1/log/entries"): "listLogEntries",
    ("get", "/v1/audit/actions"): "listOperatorActions",
    ("get", "/v1/audit/report"): "getAuditReport",
}
PUBLIC = {"getHealth", "getReady", "getMetrics", "getReceiptKeys", "getLogHead", "listLogHeads", "getLogConsistency"}
# POSTs that act on a resource and create nothing: no body, no Idempotency-Key (repeating one is harmless).
ACTIONS = {"pauseCampaign", "resumeCampaign"}
# POSTs with a body that change a resource's state once and create nothing: a repeat is refused (409), so they take
# no Idempotency-Key.
DECISIONS = {"decideReturn", "contestReturn"}


def walk(node, path=()):
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, path + (i,))


def operations():
    for template, item in SPEC["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, template, item, item[method]


class OpenApiDocument(unittest.TestCase):
    def test_version_and_info(self):
        self.assertRegex(SPEC["openapi"], r"^3\.1\.\d+$")
        self.assertIn("title", SPEC["info"])
        self.assertIn("version", SPEC["info"])
        self.assertEqual(SPEC["components"]["securitySchemes"]["bearerAuth"], {
            **SPEC["components"]["securitySchemes"]["bearerAuth"], "type": "http", "scheme": "bearer"})
        self.assertEqual(SPEC["security"], [{"bearerAuth": []}])
        desc = SPEC["info"]["description"]
        for needle in ("REFUSED_STREAM", "text/plain", "X-Request-Id", "Idempotency-Key"):
            self.assertIn(needle, desc)

    def test_every_ref_resolves(self):
        refs = 0
        for path, node in walk(SPEC):
            if isinstance(node, dict) and "$ref" in node:
                ref = node["$ref"]
                self.assertTrue(ref.startswith("#/"), f"external $ref {ref} at {path}")
                try:
                    CONTRACT.resolver.resolve(ref)
                except Exception as e:  # noqa: BLE001 - report any resolution failure
                    self.fail(f"$ref {ref} at {'/'.join(map(str, path))} does not resolve: {e}")
                refs += 1
        self.assertGreater(refs, 50)

    def test_every_component_is_used(self):
        text_refs = {node["$ref"] for _, node in walk(SPEC) if isinstance(node, dict) and "$ref" in node}
        documented_only = {"#/components/responses/MethodNotAllowed", "#/components/responses/InternalError"}
        for kind in ("schemas", "responses", "parameters", "headers"):
            for name in SPEC["components"].get(kind, {}):
                ref = f"#/components/{kind}/{name}"
                if ref not in documented_only:
                    self.assertIn(ref, text_refs, f"{ref} is never used")

    def test_schemas_are_valid_2020_12(self):
        for name, schema in SPEC["components"]["schemas"].items():
            with self.subTest(schema=name):
                Draft202012Validator.check_schema(schema)
        for _, node in walk(SPEC["paths"]):
            if isinstance(node, dict) and isinstance(node.get("schema"), dict):
                Draft202012Validator.check_schema(node["schema"])

    def test_regexes_compile(self):
        for path, node in walk(SPEC):
            if path and path[-1] == "pattern":
                re.compile(node)

    def test_operations(self):
        seen = {(m, t): op["operationId"] for m, t, _, op in operations()}
        self.assertEqual(seen, OPERATIONS)
        ids = [op["operationId"] for *_, op in operations()]
        self.assertEqual(len(ids), len(set(ids)))

    def test_security(self):
        for method, template, _, op in operations():
            with self.subTest(op=op["operationId"]):
                if op["operationId"] in PUBLIC:
                    self.assertEqual(op.get("security"), [])
                    self.assertNotIn("401", op["responses"])
                else:
                    self.assertNotIn("security", op)  # the global bearerAuth
                    for status in ("401", "403", "429", "431", "503"):
                        self.assertIn(status, op["responses"])

    def test_path_parameters_match_templates(self):
        for template, item in SPEC["paths"].items():
            names = set(re.findall(r"\{([^}]+)\}", template))
            declared = set()
            for p in item.get("parameters", []):
                p = CONTRACT.deref(p)
                if p["in"] == "path":
                    self.assertTrue(p["required"])
                    declared.add(p["name"])
            for method in METHODS:
                for p in item.get(method, {}).get("parameters", []):
                    p = CONTRACT.deref(p)
                    if p["in"] == "path":
                        declared.add(p["name"])
            self.assertEqual(names, declared, template)
            self.assertIn({"$ref": "#/components/parameters/XRequestId"}, item.get("parameters", []), template)

    def test_bodies_of_posts(self):
        for method, template, _, op in operations():
            if method == "post" and op["operationId"] not in ACTIONS:
                with self.subTest(op=op["operationId"]):
                    self.assertIn("application/json", op["requestBody"]["content"])
                    for status in ("400", "409", "413", "415", "422"):
                        self.assertIn(status, op["responses"])
                    names = [CONTRACT.deref(p)["name"] for p in op.get("parameters", [])]
                    if op["operationId"] not in DECISIONS:
                        self.assertIn("Idempotency-Key", names)
            elif method == "patch":  # a body, no Idempotency-Key (a PATCH is idempotent by itself)
                with self.subTest(op=op["operationId"]):
                    self.assertIn("application/json", op["requestBody"]["content"])
                    for status in ("400", "413", "415", "422"):
                        self.assertIn(status, op["responses"])
            else:
                self.assertNotIn("requestBody", op)
                self.assertNotIn("413", op["responses"])
                self.assertNotIn("415", op["responses"])

    def test_no_operation_lists_500(self):
        for *_, op in operations():
            self.assertNotIn("500", op["responses"])
            self.assertNotIn("default", op["responses"])

    def test_every_response_has_request_id_and_a_closed_schema(self):
        for method, template, _, op in operations():
            for status, resp in op["responses"].items():
                with self.subTest(op=op["operationId"], status=status):
                    self.assertRegex(status, r"^[1-5][0-9][0-9]$")
                    resp = CONTRACT.deref(resp)
                    self.assertIn("description", resp)
                    self.assertIn("X-Request-Id", resp.get("headers", {}))
                    content = resp.get("content", {})
                    if status == "204":
                        self.assertEqual(content, {})
                    for media, m in content.items():
                        if "json" in media:
                            self.check_closed(m["schema"], f"{op['operationId']} {status}", set())
                    if int(status) >= 400:
                        self.assertEqual(list(content), ["application/problem+json"])
                        self.check_problem_status(int(status), content["application/problem+json"]["schema"])

    def check_problem_status(self, status, schema):
        parts = schema["allOf"]
        self.assertIn({"$ref": "#/components/schemas/Problem"}, parts)
        extra = [p for p in parts if "properties" in p][0]["properties"]
        self.assertEqual(extra["status"], {"const": status})
        codes = extra["code"].get("enum") or [extra["code"]["const"]]
        for code in codes:
            self.assertEqual(PROBLEM_STATUS[code], status, code)

    def check_closed(self, schema, where, seen):
        """Every object schema reachable from a response is closed: `required` + `additionalProperties: false`,
        and `required` names exactly its properties (every response field is always present)."""
        if "$ref" in schema:
            if schema["$ref"] in seen:
                return
            seen.add(schema["$ref"])
            self.check_closed(CONTRACT.deref(schema), f"{where} > {schema['$ref']}", seen)
            return
        if schema.get("type") == "object":
            self.assertIs(schema.get("additionalProperties"), False, where)
            self.assertEqual(set(schema.get("required", [])), set(schema.get("properties", {})), where)
        for sub in schema.get("properties", {}).values():
            self.check_closed(sub, where, seen)
        if isinstance(schema.get("items"), dict):
            self.check_closed(schema["items"], where, seen)
        for key in ("allOf", "oneOf", "anyOf"):
            for sub in schema.get(key, []):
                if "type" in sub or "$ref" in sub:
                    self.check_closed(sub, where, seen)

    def test_examples_validate(self):
        for name, schema in SPEC["components"]["schemas"].items():
            for example in schema.get("examples", []):
                CONTRACT.validate(f"#/components/schemas/{name}", {"$ref": f"#/components/schemas/{name}"}, example)

    def test_contract_accepts_and_rejects(self):
        """The validator itself: a good account passes; a wrong or extra field fails."""
        account = {"id": "019ab1f2-3c4d-7e5f-8a6b-7c8d9e0f1a2b", "role": "webmaster", "name": "Acme",
                   "currency": "USD", "status": "active", "rate_limit": None, "credit_limit": None,
                   "created_at": "2026-11-23T04:55:27.123456Z", "updated_at": "2026-11-23T04:55:27.123456Z"}
        ref = {"$ref": "#/components/schemas/Account"}
        CONTRACT.validate("test-account", ref, account)
        for bad in ({**account, "extra": 1}, {**account, "created_at": "2026-11-23T04:55:27Z"},
                    {**account, "id": account["id"].upper()}, {**account, "rate_limit": 0},
                    {**account, "credit_limit": -1}, {**account, "credit_limit": 2 ** 53},
                    {k: v for k, v in account.items() if k != "status"}, {**account, "name": " Acme"}):
            with self.assertRaises(AssertionError):
                CONTRACT.validate("test-account", ref, bad)


if __name__ == "__main__":
    main()

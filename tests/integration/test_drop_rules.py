"""Per-app drop rules (docs/protocol.md, "Rules"), against the real server over HTTP.

Events an app's rules drop are not stored, not errors, and counted as "filtered" in the 202 and
in /metrics; the others of the batch are stored as sent; the quota counts only what is stored;
rules survive a restart; bad rules are refused saying what is wrong.
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from vigil_harness import ADMIN_TOKEN, Server, batch, session  # noqa: E402

RULES = {"drop": [{"app_version": "*-debug"},
                  {"type": "custom", "name": "debug_*"},
                  {"type": "network", "url": "https://beacon.*"}]}
CANONICAL = {"drop": [{"app_version": "*-debug"},
                      {"type": "custom", "name": "debug_*"},
                      {"type": "network", "url": "https://beacon.*"}]}
USAGE = ("rules must be a JSON object {\"drop\": [rule, ...]}: each rule an object of conditions "
         "that must all hold, from app_version, os, type, name, error_type and url, each a string "
         "pattern ('*' any run of bytes, '?' one byte)")


def custom(event_id, name):
    return {"id": event_id, "type": "custom", "ts": int(time.time() * 1000), "name": name}


def network(event_id, url):
    return {"id": event_id, "type": "network", "ts": int(time.time() * 1000),
            "network": {"method": "GET", "url": url, "status": 200, "duration_ms": 12}}


class DropRulesTest(unittest.TestCase):
    def setUp(self):
        self.server = Server().start()
        self.addCleanup(lambda: self.server.cleanup())
        self.app = self.server.create_app("ruled")
        self.assertEqual(self.app["drop_rules"], {"drop": []})

    def set_rules(self, body, app_id=None):
        return self.server.admin("POST", "/v1/admin/apps/%s/rules" % (app_id or self.app["id"]),
                                 body)

    def post(self, payload):
        return self.server.post_events(self.app["ingest_key"], payload)

    def stored_ids(self):
        return sorted(e["id"] for e in self.server.log_dump(self.app["id"]))

    def test_dropped_events_are_not_stored_and_are_counted_as_filtered(self):
        status, _, body = self.set_rules(RULES)
        self.assertEqual((status, body["drop_rules"]), (200, CANONICAL), body)
        status, _, body = self.post(batch("r1", [
            session("s1"), custom("c1", "debug_tap"), custom("c2", "purchase"),
            network("n1", "https://beacon.example.com/ping"),
            network("n2", "https://api.example.com/v1/cart"),
            {"id": "bad", "type": "teleport", "ts": 1}]))
        self.assertEqual(status, 202, body)
        self.assertEqual(body, {"accepted": 3, "rejected": 1, "filtered": 2, "errors": [
            {"index": 5, "error": "type must be one of session_start, crash, handled_exception, "
                                  "network, user_flow, custom"}]})
        # A debug build's batch: all filtered, nothing appended, answered at once.
        status, _, body = self.post(batch("r2", [session("d1"), custom("d2", "purchase")],
                                          app={"version": "2.4.0-debug"}))
        self.assertEqual((status, body), (202, {"accepted": 0, "rejected": 0, "filtered": 2,
                                                "errors": []}))
        self.assertEqual(self.stored_ids(), ["c2", "n2", "s1"])
        stored = {e["id"]: e for e in self.server.log_dump(self.app["id"])}
        self.assertEqual(stored["n2"]["network"]["url"], "https://api.example.com/v1/cart")
        self.assertEqual(stored["c2"]["name"], "purchase")
        self.assertEqual(stored["s1"]["app"]["version"], "2.3.1")
        self.assertEqual(self.server.metric("vigil_events_filtered_total"), 4)
        self.assertEqual(self.server.metric("vigil_events_accepted_total"), 3)

        # The quota counts what is stored: 5 kept and 5 filtered take 5 of a bucket of 10.
        status, _, body = self.server.admin("POST", "/v1/admin/apps/%s/quota" % self.app["id"],
                                            {"events_per_second": 1, "burst_events": 10})
        self.assertEqual(status, 200, body)
        status, _, body = self.post(batch("r3", [session("q%d" % i) for i in range(5)] +
                                          [custom("qd%d" % i, "debug_x") for i in range(5)]))
        self.assertEqual((status, body["accepted"], body["filtered"]), (202, 5, 5), body)
        status, _, body = self.post(batch("r4", [session("r%d" % i) for i in range(5)]))
        self.assertEqual((status, body.get("accepted")), (202, 5), body)

        # No rules again: the debug build's batch is stored.
        status, _, body = self.set_rules({"drop": []})
        self.assertEqual((status, body["drop_rules"]), (200, {"drop": []}))
        status, _, body = self.server.admin("POST", "/v1/admin/apps/%s/quota" % self.app["id"],
                                            {"events_per_second": 0})
        status, _, body = self.post(batch("r2", [session("d1"), custom("d2", "purchase")],
                                          app={"version": "2.4.0-debug"}))
        self.assertEqual((status, body), (202, {"accepted": 2, "rejected": 0, "errors": []}))
        self.assertIn("d2", self.stored_ids())

    def test_rules_survive_a_restart(self):
        self.assertEqual(self.set_rules(RULES)[0], 200)
        self.server.stop()
        self.server = Server(data_dir=self.server.data_dir).start()
        status, _, body = self.server.admin("GET", "/v1/admin/apps/" + self.app["id"])
        self.assertEqual(body["drop_rules"], CANONICAL)
        status, _, body = self.post(batch("after", [custom("c1", "debug_tap"), session("s1")]))
        self.assertEqual((status, body["accepted"], body["filtered"]), (202, 1, 1), body)

    def test_bad_rules_say_what_is_wrong(self):
        for bad in ({}, [], {"drop": {}}, {"drop": [1]}):
            status, _, body = self.set_rules(bad)
            self.assertEqual(status, 400, bad)
            self.assertTrue(body["error"].endswith(USAGE), body)
        cases = [
            ({"drop": [{"type": "teleport"}]},
             "rule 0: type must be one of session_start, crash, handled_exception, network, "
             "user_flow, custom"),
            ({"drop": [{"os": "ios"}, {"os": ""}]}, "rule 1: os must be a string of 1-256 bytes"),
            ({"drop": [{"version": "1.0"}]}, "rule 0: unknown condition 'version'; " + USAGE),
            ({"drop": [{"os": "x"}] * 101}, "at most 100 rules"),
        ]
        for bad, error in cases:
            status, _, body = self.set_rules(bad)
            self.assertEqual((status, body), (400, {"error": error}), bad)
        status, _, body = self.server.json_request(
            "POST", "/v1/admin/apps/%s/rules" % self.app["id"], b"",
            {"Authorization": "Bearer " + ADMIN_TOKEN})
        self.assertEqual((status, body), (400, {"error": USAGE}))
        status, _, body = self.set_rules(RULES, app_id="app_nope")
        self.assertEqual((status, body), (404, {"error": "no app with id 'app_nope'"}))
        status, _, body = self.server.admin("GET", "/v1/admin/apps/%s/rules" % self.app["id"])
        self.assertEqual((status, body), (405, {"error": "use POST {\"drop\": [rule, ...]} to set "
                                                         "an app's drop rules"}))
        # None of it changed the app.
        self.assertEqual(self.server.admin("GET", "/v1/admin/apps/" + self.app["id"])[2]["drop_rules"],
                         {"drop": []})


if __name__ == "__main__":
    unittest.main()

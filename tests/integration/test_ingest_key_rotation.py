"""A new ingest key for an app (docs/protocol.md, admin API), against the real server over HTTP.

App versions already installed send the key built into them: after a rotation the previous key
must keep working, into the same app, until an admin revokes it, across restarts, and when it was
last used must survive restarts too (it tells the admin when it can go). Events are read back with
`vigil log dump`.
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from vigil_harness import Server, batch, session  # noqa: E402


class IngestKeyRotationTest(unittest.TestCase):
    def setUp(self):
        self.server = Server().start()
        self.addCleanup(self.server.cleanup)
        self.app = self.server.create_app("shipping")
        self.path = "/v1/admin/apps/%s/" % self.app["id"]

    def post(self, key, batch_id):
        return self.server.post_events(key, batch(batch_id, [session(batch_id + "-e")]))

    def assertError(self, answer, status, text):
        self.assertEqual(answer[0], status, answer)
        self.assertEqual(answer[2], {"error": text})

    def test_previous_keys_work_until_revoked_and_across_restarts(self):
        first = self.app["ingest_key"]
        self.assertEqual(self.app["previous_ingest_keys"], [])
        before = int(time.time() * 1000)
        status, _, rotated = self.server.admin("POST", self.path + "ingest-key")
        self.assertEqual(status, 200, rotated)
        second = rotated["ingest_key"]
        self.assertTrue(second.startswith("vik_"), second)
        self.assertNotEqual(second, first)
        [previous] = rotated["previous_ingest_keys"]
        self.assertEqual(previous["key"], first)
        self.assertGreaterEqual(previous["retired_ms"], before)
        self.assertIsNone(previous["last_used_ms"])  # nothing sent with it since
        # Both keys put events into the same app.
        self.assertEqual(self.post(first, "old-1")[0], 202)
        self.assertEqual(self.post(second, "new-1")[0], 202)
        # A retry of a batch first sent with the old key, now with the new one: the same app's
        # batch, stored once.
        status, _, body = self.post(second, "old-1")
        self.assertEqual((status, body.get("duplicate")), (202, True), body)
        listed = self.server.admin("GET", self.path.rstrip("/"))[2]
        self.assertGreaterEqual(listed["previous_ingest_keys"][0]["last_used_ms"], before)
        # One batch came with it (its retry came with the new key).
        self.assertEqual(self.server.metric('vigil_ingest_previous_key_batches_total{app="%s",'
                                            'key="%s"}' % (self.app["id"], first)), 1)
        self.assertEqual(sorted(e["id"] for e in self.server.log_dump(self.app["id"])),
                         ["new-1-e", "old-1-e"])

        status, _, third = self.server.admin("POST", self.path + "ingest-key")
        self.assertEqual(status, 200, third)
        self.assertEqual([p["key"] for p in third["previous_ingest_keys"]], [first, second])
        # Kept across a restart, with the order of retirement and when each was last used.
        # (A use after the registry's last write: only the save at shutdown keeps it.)
        time.sleep(0.01)
        self.assertEqual(self.post(first, "old-1b")[0], 202)
        now = self.server.admin("GET", self.path.rstrip("/"))[2]
        last_used = {p["key"]: p["last_used_ms"] for p in now["previous_ingest_keys"]}
        self.assertGreater(last_used[first], listed["previous_ingest_keys"][0]["last_used_ms"])
        self.assertIsNone(last_used[second])
        self.server.stop()
        self.server.start()
        restarted = self.server.admin("GET", self.path.rstrip("/"))[2]
        self.assertEqual({p["key"]: p["last_used_ms"] for p in restarted["previous_ingest_keys"]},
                         last_used)
        for key, batch_id in ((first, "old-2"), (second, "mid-2"), (third["ingest_key"], "new-2")):
            self.assertEqual(self.post(key, batch_id)[0], 202, key)

        # Revoked: 401, as an unknown key. The others go on.
        status, _, after = self.server.admin("DELETE", self.path + "previous-ingest-keys/" + first)
        self.assertEqual(status, 200, after)
        self.assertEqual([p["key"] for p in after["previous_ingest_keys"]], [second])
        self.assertError(self.post(first, "old-3"), 401,
                         "unknown ingest key: check the X-Vigil-Key header against your app's key")
        self.assertEqual(self.post(second, "mid-3")[0], 202)
        self.server.stop()
        self.server.start()
        self.assertEqual(self.post(first, "old-4")[0], 401)
        self.assertEqual(self.post(second, "mid-4")[0], 202)
        self.assertEqual(sorted(e["id"] for e in self.server.log_dump(self.app["id"])),
                         ["mid-2-e", "mid-3-e", "mid-4-e", "new-1-e", "new-2-e", "old-1-e",
                          "old-1b-e", "old-2-e"])

    def test_refusals(self):
        current = self.app["ingest_key"]
        self.assertError(
            self.server.admin("DELETE", self.path + "previous-ingest-keys/" + current), 400,
            "that is app %s's current ingest key; give the app a new one first (POST "
            "/v1/admin/apps/{id}/ingest-key), then revoke this one once no installed version "
            "sends it" % self.app["id"])
        self.assertError(
            self.server.admin("DELETE", self.path + "previous-ingest-keys/vik_nope"), 404,
            "app %s has no previous ingest key 'vik_nope'" % self.app["id"])
        self.assertError(self.server.admin("GET", self.path + "ingest-key"), 405,
                         "use POST to give an app a new ingest key")
        self.assertError(self.server.admin("POST", self.path + "previous-ingest-keys/" + current),
                         405, "use DELETE to stop accepting a previous ingest key")
        self.assertError(self.server.admin("POST", "/v1/admin/apps/app_nope/ingest-key"), 404,
                         "no app with id 'app_nope'")
        # At most 8 previous keys: a ninth rotation waits for a revocation.
        for _ in range(8):
            self.assertEqual(self.server.admin("POST", self.path + "ingest-key")[0], 200)
        self.assertError(
            self.server.admin("POST", self.path + "ingest-key"), 409,
            "app %s already has 8 previous ingest keys still accepted; revoke one (DELETE "
            "/v1/admin/apps/{id}/previous-ingest-keys/{key}) first" % self.app["id"])
        self.assertEqual(self.post(current, "first-key")[0], 202)  # the oldest still works


if __name__ == "__main__":
    unittest.main()

"""Per-app ingest quotas (docs/protocol.md, "Quotas"), against the real server over HTTP.

An app over its events_per_second gets 429 with Retry-After for the whole batch, nothing of it
stored; the same batch sent again later is stored once; other apps are not held back; a
duplicate gives back what it took; the quota survives a restart. The expected numbers follow
the token-bucket rule of the docs, worked out here by hand.
"""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from vigil_harness import ADMIN_TOKEN, VIGIL, Server, batch, session  # noqa: E402


def events(prefix, n):
    return [session("%s-%d" % (prefix, i)) for i in range(n)]


def retry_after(headers):
    return {k.lower(): v for k, v in headers.items()}.get("retry-after")


def over_quota(app_id, rate, burst):
    return ("app '%s' is over its quota of %d events per second (bursts of %d); send the same "
            "batch again after the Retry-After delay, or have an admin raise the quota "
            "(POST /v1/admin/apps/%s/quota)" % (app_id, rate, burst, app_id))


class AppQuotaTest(unittest.TestCase):
    def setUp(self):
        self.server = Server().start()
        self.addCleanup(lambda: self.server.cleanup())
        self.app = self.server.create_app("limited")
        self.other = self.server.create_app("other")

    def post(self, app, batch_id, n, prefix=None):
        return self.server.post_events(app["ingest_key"], batch(batch_id, events(prefix or batch_id, n)))

    def set_quota(self, app_id, body):
        return self.server.admin("POST", "/v1/admin/apps/%s/quota" % app_id, body)

    def stored(self, app):
        return [e["id"] for e in self.server.log_dump(app["id"])]

    # The rates below leave each timed step seconds of margin on a loaded machine: what must be
    # refused stays refused for at least 2 s.
    def test_a_batch_over_the_quota_is_refused_whole_and_stored_once_when_sent_again(self):
        app_id = self.app["id"]
        status, _, body = self.set_quota(app_id, {"events_per_second": 5, "burst_events": 50})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["quota"], {"events_per_second": 5, "burst_events": 50})
        self.assertEqual(self.server.admin("GET", "/v1/admin/apps/" + app_id)[2]["quota"],
                         {"events_per_second": 5, "burst_events": 50})
        # The bucket starts full, 50: 30 go, 20 (and a little) are left, 10 short of 30 more.
        self.assertEqual(self.post(self.app, "q1", 30)[0], 202)
        status, headers, body = self.post(self.app, "q2", 30)
        self.assertEqual(status, 429, body)
        self.assertEqual(body, {"error": over_quota(app_id, 5, 50)})
        # 2 s, or 1 if a second went by since q1 (a loaded machine).
        self.assertIn(retry_after(headers), ("2", "1"))
        # Another app is not held back by this one's quota.
        self.assertEqual(self.post(self.other, "o1", 200)[0], 202)
        # Sent again after Retry-After (10 missing at 5 a second), it is stored once.
        time.sleep(2.1)
        status, _, body = self.post(self.app, "q2", 30)
        self.assertEqual((status, body["accepted"]), (202, 30), body)
        self.assertEqual(sorted(self.stored(self.app)),
                         sorted(["q1-%d" % i for i in range(30)] + ["q2-%d" % i for i in range(30)]))
        self.assertEqual(self.server.metric(
            'vigil_ingest_quota_refused_batches_total{app="%s"}' % app_id), 1)
        self.assertGreaterEqual(self.server.metric('vigil_http_requests_total{code="429"}'), 1)

        # No quota again (0 or null): anything goes.
        status, _, body = self.set_quota(app_id, {"events_per_second": None})
        self.assertEqual((status, body["quota"]), (200, {"events_per_second": None}))
        self.assertEqual(self.post(self.app, "q6", 500)[0], 202)

    def test_a_duplicate_takes_nothing(self):
        # 1 a second, bursts of 40 (full at the start): 10 go, then their retry takes 10 and
        # gives them back, so 30 more still go. Had the retry kept them, the 30 would wait 10 s.
        self.assertEqual(self.set_quota(self.app["id"],
                                        {"events_per_second": 1, "burst_events": 40})[0], 200)
        self.assertEqual(self.post(self.app, "d1", 10)[0], 202)
        status, _, body = self.post(self.app, "d1", 10)
        self.assertEqual((status, body.get("duplicate")), (202, True), body)
        status, _, body = self.post(self.app, "d2", 30)
        self.assertEqual((status, body.get("accepted")), (202, 30), body)
        self.assertEqual(len(self.stored(self.app)), 40)

    def test_past_its_quota_a_batch_is_refused_before_it_is_read(self):
        app_id = self.app["id"]
        # 2 a second, bursts of 5: a batch of 8 goes from the full bucket (else it never could)
        # and leaves it 3 in debt, 2 s from holding one event again.
        self.assertEqual(self.set_quota(app_id, {"events_per_second": 2, "burst_events": 5})[0],
                         200)
        status, _, body = self.post(self.app, "big", 8)
        self.assertEqual((status, body["accepted"]), (202, 8), body)
        # Not even read: a body that is not gzip gets 429, not 400.
        status, headers, body = self.server.post_events(self.app["ingest_key"], None,
                                                        encoding="gzip", raw=b"not gzip")
        self.assertEqual((status, body), (429, {"error": over_quota(app_id, 2, 5)}))
        self.assertIn(retry_after(headers), ("2", "1"))
        self.assertEqual(self.server.metric(
            'vigil_ingest_quota_refused_batches_total{app="%s"}' % app_id), 1)

    def test_the_quota_survives_a_restart(self):
        app_id = self.app["id"]
        self.assertEqual(self.set_quota(app_id, {"events_per_second": 7})[0], 200)
        self.server.stop()
        self.server = Server(data_dir=self.server.data_dir).start()
        status, _, body = self.server.admin("GET", "/v1/admin/apps/" + app_id)
        self.assertEqual(body["quota"], {"events_per_second": 7, "burst_events": 70})  # 10 s worth
        listed = {a["id"]: a for a in self.server.admin("GET", "/v1/admin/apps")[2]["apps"]}
        self.assertEqual(listed[self.other["id"]]["quota"], {"events_per_second": None})
        # The bucket starts full, 70: 84 go and leave it 14 in debt, 3 s from 7 more.
        self.assertEqual(self.post(self.app, "r1", 84)[0], 202)
        status, headers, body = self.post(self.app, "r2", 7)
        self.assertEqual(status, 429, body)
        self.assertIn(retry_after(headers), ("3", "2"))

    def test_devices_over_the_quota_wait_for_retry_after_and_every_event_is_stored_once(self):
        # vigil loadgen sends 30 batches of 20 events at 25 batches/s (500 events/s) to an app
        # allowed 150 a second, bursts of 200: most are answered 429 at first, wait for
        # Retry-After like an SDK and go again with their batch_id.
        self.assertEqual(self.set_quota(self.app["id"],
                                        {"events_per_second": 150, "burst_events": 200})[0], 200)
        started = time.time()
        run = subprocess.run(
            [VIGIL, "loadgen", "--target", "http://127.0.0.1:%d" % self.server.port,
             "--key", self.app["ingest_key"], "--rate", "25", "--max-batches", "30",
             "--retry-rate", "0", "--events-per-batch", "20", "--concurrency", "4",
             "--devices", "40", "--seed", "7", "--json"],
            capture_output=True, text=True, timeout=120)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        summary = json.loads(run.stdout)
        self.assertEqual((summary["batches"], summary["unsent"], summary["errors"]), (30, 0, {}),
                         summary)
        self.assertGreater(summary["backoffs"].get("429", 0), 0, summary)
        self.assertEqual(summary["requests"], 30 + summary["backoffs"]["429"])
        # 600 events at 150 a second after the first 200: about 2.7 s at the least.
        self.assertGreater(time.time() - started, 2.5)
        self.assertEqual(summary["accepted"], summary["events"])
        ids = self.stored(self.app)
        self.assertEqual(len(ids), summary["events"])
        self.assertEqual(len(set(ids)), len(ids))
        self.assertEqual(self.server.metric(
            'vigil_ingest_quota_refused_batches_total{app="%s"}' % self.app["id"]),
            summary["backoffs"]["429"])

    def test_bad_quota_requests_say_what_is_wrong(self):
        app_id = self.app["id"]
        usage = ("body must be a JSON object {\"events_per_second\": N, \"burst_events\": M}: N a "
                 "whole number of events per second (0 or null: no quota), M optional (default "
                 "10 seconds' worth)")
        for bad in ({}, {"events_per_second": -1}, {"events_per_second": 1.5},
                    {"events_per_second": "10"}, {"events_per_second": 10, "burst_events": -2}, [],
                    "10"):
            status, _, body = self.set_quota(app_id, bad)
            self.assertEqual((status, body), (400, {"error": usage}), bad)
        status, _, body = self.set_quota(app_id, {"events_per_second": 10, "burst": 5})
        self.assertEqual((status, body), (400, {"error": "unknown field 'burst': a quota has "
                                                         "events_per_second and burst_events"}))
        status, _, body = self.set_quota(app_id, {"events_per_second": 10 ** 10})
        self.assertEqual((status, body), (400, {"error": "events_per_second may be at most "
                                                         "1000000000 and burst_events at most "
                                                         "1000000000000"}))
        status, _, body = self.set_quota("app_nope", {"events_per_second": 10})
        self.assertEqual((status, body), (404, {"error": "no app with id 'app_nope'"}))
        status, _, body = self.server.json_request(
            "POST", "/v1/admin/apps/%s/quota" % app_id, b"{",
            {"Authorization": "Bearer " + ADMIN_TOKEN})
        self.assertEqual((status, body), (400, {"error": usage}))
        status, _, body = self.server.admin("GET", "/v1/admin/apps/%s/quota" % app_id)
        self.assertEqual((status, body), (405, {"error": "use POST {\"events_per_second\": N} to "
                                                         "set an app's quota"}))
        status, _, body = self.server.json_request("POST", "/v1/admin/apps/%s/quota" % app_id,
                                                   b'{"events_per_second": 1}')
        self.assertEqual(status, 401, body)
        # None of it changed the app.
        self.assertEqual(self.server.admin("GET", "/v1/admin/apps/" + app_id)[2]["quota"],
                         {"events_per_second": None})


if __name__ == "__main__":
    unittest.main()

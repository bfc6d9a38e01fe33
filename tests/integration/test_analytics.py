"""The Lambda core end to end: speed answers first, batch makes sealed days exact, the serving
layer says which layer answered, and restarts neither lose nor double counts.

Events are generated with a fixed seed over four days (one older than the speed window), with
batches resent under the same batch_id and events resent in new batches under the same ids.
Every delivery is recorded in SQLite, and the expected answers are SQL over that record —
nothing is shared with Vigil's aggregation.
"""
import json
import os
import random
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from vigil_harness import ADMIN_TOKEN, VIGIL, ServerTestCase, wait_away_from_midnight  # noqa: E402

DAY = 86400 * 1000
HOUR = 3600 * 1000


def iso_day(ms):
    return time.strftime("%Y-%m-%d", time.gmtime(ms / 1000))


class AnalyticsTest(ServerTestCase):
    # No scheduled batch runs: the test decides when batch runs (and shows speed alone).
    server_env = {"VIGIL_ARCHIVE_FLUSH_MS": "200", "VIGIL_BATCH_INTERVAL_MINUTES": "0"}

    @classmethod
    def set_up_server(cls):
        # Today's events fall between midnight (UTC) and a minute ago: at 00:00:49 there was no
        # such time yet, and a CI run failed on it.
        wait_away_from_midnight()
        cls.app = cls.server.create_app("analytics")
        cls.other = cls.server.create_app("other")
        cls.now = int(time.time() * 1000)
        cls.today = cls.now - cls.now % DAY
        cls.db = sqlite3.connect(":memory:")
        cls.db.execute("CREATE TABLE deliveries (id TEXT, ts INTEGER, type TEXT, version TEXT, "
                       "user TEXT, endpoint TEXT, failed INTEGER, name TEXT)")
        cls.send_history()

    @classmethod
    def post(cls, body, record=True):
        status, _, resp = cls.server.post_events(cls.app["ingest_key"], body)
        assert status == 202 and resp["rejected"] == 0, (status, resp)
        if record and not resp.get("duplicate"):
            for e in body["events"]:
                cls.record(e, body)

    @classmethod
    def record(cls, e, body):
        endpoint = failed = name = None
        if e["type"] == "network":
            endpoint = "GET api.example.com/v1/items/{id}" if "items" in e["network"]["url"] \
                else "POST api.example.com/v1/login"
            failed = 1 if e["network"]["status"] >= 400 else 0
        if e["type"] == "custom":
            name = e["name"]
        cls.db.execute("INSERT INTO deliveries VALUES (?,?,?,?,?,?,?,?)",
                       (e["id"], e["ts"], e["type"], body["app"]["version"], body["user"]["id"],
                        endpoint, failed, name))

    @classmethod
    def send_history(cls):
        rng = random.Random(7)
        starts = [cls.today - 3 * DAY, cls.today - DAY]
        batches = []
        n = 0
        for day_start in starts + [cls.today]:
            end = min(day_start + DAY, cls.now - 60 * 1000)
            for b in range(25):
                user = "u%d" % rng.randrange(40)
                version = rng.choice(["1.0", "2.0"])
                events = []
                for _ in range(rng.randrange(3, 9)):
                    n += 1
                    ts = rng.randrange(day_start, end)
                    kind = rng.choice(["session_start", "session_start", "crash", "network",
                                       "network", "handled_exception", "custom"])
                    e = {"id": "ev-%d" % n, "type": kind, "ts": ts}
                    if kind in ("crash", "handled_exception"):
                        e["error"] = {"type": rng.choice(["NullPointer", "OutOfMemory"]),
                                      "reason": "boom"}
                    elif kind == "network":
                        if rng.random() < 0.5:
                            e["network"] = {"method": "GET", "status": rng.choice([200, 200, 404]),
                                            "url": "https://api.example.com/v1/items/%d?x=1"
                                            % rng.randrange(1000), "duration_ms": rng.randrange(5, 500)}
                        else:
                            e["network"] = {"method": "POST", "status": rng.choice([200, 500]),
                                            "url": "https://api.example.com/v1/login",
                                            "duration_ms": rng.randrange(5, 500)}
                    elif kind == "custom":
                        e["name"] = rng.choice(["purchase", "share"])
                    events.append(e)
                body = {"batch_id": "b-%d" % len(batches), "sent_at": cls.now,
                        "device": {"id": "d-" + user, "os": "android"},
                        "app": {"version": version}, "user": {"id": user}, "events": events}
                batches.append(body)
                cls.post(body)
        # The same batch again (same batch_id): ingest drops it, nobody counts it.
        for body in batches[::10]:
            status, _, resp = cls.server.post_events(cls.app["ingest_key"], body)
            assert status == 202, resp
        # Events resent in new batches with the same ids: speed counts each delivery, batch once.
        for i, body in enumerate(batches[1::9]):
            again = dict(body, batch_id="resend-%d" % i, events=body["events"][:2])
            cls.post(again)
        cls.db.commit()

    def api(self, path, token=None):
        token = token or self.app["api_token"]
        return self.server.json_request("GET", "/v1/apps/%s/%s" % (self.app["id"], path),
                                        headers={"Authorization": "Bearer " + token})

    def series(self, name, granularity="day", days=4, extra=""):
        path = "metrics?name=%s&granularity=%s&from=%s&to=%s%s" % (
            name, granularity, iso_day(self.today - (days - 1) * DAY), iso_day(self.today + DAY), extra)
        status, _, body = self.api(path)
        self.assertEqual(status, 200, body)
        return {p["t"][:10]: (p["value"], p["source"]) for p in body["points"]}

    def oracle(self, sql, day, *args, distinct=True):
        what = "COUNT(DISTINCT id)" if distinct else "COUNT(*)"
        return self.db.execute("SELECT %s FROM deliveries WHERE ts >= ? AND ts < ? AND %s" % (what, sql),
                               (day, day + DAY) + args).fetchone()[0]

    def wait_caught_up(self):
        deadline = time.time() + 30
        while time.time() < deadline:
            status, _, s = self.api("status")
            if s["events_archived"] == s["events_received"] and s["speed_lag_ms"] == 0 and \
                    s["events_processed"] > 0:
                return s
            time.sleep(0.1)
        self.fail("layers did not catch up: %s" % s)

    def test_1_speed_answers_before_batch(self):
        s = self.wait_caught_up()
        total = self.db.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0]
        self.assertEqual(s["events_received"], total)
        self.assertIsNone(s["batch_sealed_until"])
        window = self.now - 48 * HOUR
        in_window = self.db.execute("SELECT COUNT(*) FROM deliveries WHERE ts >= ?",
                                    (window,)).fetchone()[0]
        self.assertEqual(s["events_processed"], in_window)
        loads = self.series("app_loads")
        for day in (self.today - DAY, self.today):
            want = self.oracle("type = 'session_start'", day, distinct=False)
            self.assertEqual(loads[iso_day(day)], (want, "speed"), iso_day(day))
        # Three days ago is older than speed's window: nothing until batch runs.
        self.assertEqual(loads[iso_day(self.today - 3 * DAY)], (0, "speed"))

    def test_2_batch_makes_sealed_days_exact(self):
        status, _, run = self.server.admin("POST", "/v1/admin/batch/run",
                                           {"app": self.app["id"],
                                            "from": iso_day(self.today - 5 * DAY)})
        self.assertEqual(status, 200, run)
        self.assertEqual(run["days"], 3)
        self.assertGreater(run["duplicates"], 0)
        sealed_days = (self.today - 3 * DAY, self.today - DAY)
        for name, sql in (("app_loads", "type = 'session_start'"), ("crashes", "type = 'crash'"),
                          ("handled_exceptions", "type = 'handled_exception'"),
                          ("network_requests", "type = 'network'"),
                          ("custom_events", "type = 'custom'"), ("events", "1 = 1")):
            got = self.series(name)
            for day in sealed_days:
                self.assertEqual(got[iso_day(day)], (self.oracle(sql, day), "batch"),
                                 "%s %s" % (name, iso_day(day)))
            # Today is not over: still speed's, deliveries counted.
            self.assertEqual(got[iso_day(self.today)][1], "speed")
            # Per version too.
            for version in ("1.0", "2.0"):
                got = self.series(name, extra="&version=" + version)
                for day in sealed_days:
                    want = self.oracle(sql + " AND version = ?", day, version)
                    self.assertEqual(got[iso_day(day)][0], want, (name, version, iso_day(day)))
        # A rerun computes the same cells: it rewrites none of them, and the answers stay.
        before = self.series("events")
        status, _, again = self.server.admin("POST", "/v1/admin/batch/run",
                                             {"app": self.app["id"],
                                              "from": iso_day(self.today - 5 * DAY)})
        self.assertEqual(status, 200, again)
        self.assertEqual((again["days"], again["unchanged_days"]), (3, 3), again)
        self.assertEqual(self.series("events"), before)
        # Unique users (exact at this size), crashed users and crash-free users.
        users = self.series("users")
        crashed = self.series("crashed_users")
        free = self.series("crash_free_users")
        for day in sealed_days:
            u = self.db.execute("SELECT COUNT(DISTINCT user) FROM deliveries WHERE ts >= ? AND ts < ?",
                                (day, day + DAY)).fetchone()[0]
            c = self.db.execute("SELECT COUNT(DISTINCT user) FROM deliveries WHERE ts >= ? AND "
                                "ts < ? AND type = 'crash'", (day, day + DAY)).fetchone()[0]
            self.assertEqual(users[iso_day(day)][0], u)
            self.assertEqual(crashed[iso_day(day)][0], c)
            self.assertAlmostEqual(free[iso_day(day)][0], round(100 * (1 - c / u), 2), places=2)
        # Hours of a sealed day come from batch too, and add up to the day.
        day = self.today - DAY
        status, _, body = self.api("metrics?name=app_loads&granularity=hour&from=%s&to=%s" %
                                   (iso_day(day), iso_day(day + DAY)))
        self.assertEqual(len(body["points"]), 24)
        self.assertTrue(all(p["source"] == "batch" for p in body["points"]))
        self.assertEqual(sum(p["value"] for p in body["points"]),
                         self.oracle("type = 'session_start'", day))
        # Status knows what batch sealed.
        status, _, s = self.api("status")
        self.assertEqual(s["batch_sealed_until"][:10], iso_day(self.today))

    def test_3_network_breakdown_by_endpoint(self):
        day = self.today - DAY
        status, _, body = self.api("network?from=%s&to=%s" % (iso_day(day), iso_day(day + DAY)))
        self.assertEqual(status, 200, body)
        got = {e["method"] + " " + e["endpoint"]: e for e in body["endpoints"]}
        rows = self.db.execute("SELECT endpoint, COUNT(DISTINCT id), SUM(failed) FROM (SELECT DISTINCT "
                               "id, endpoint, failed FROM deliveries WHERE type = 'network' AND "
                               "ts >= ? AND ts < ?) GROUP BY endpoint", (day, day + DAY)).fetchall()
        self.assertEqual(set(got), {r[0] for r in rows})
        for endpoint, count, failed in rows:
            self.assertEqual(got[endpoint]["requests"], count)
            self.assertEqual(got[endpoint]["errors"], failed)
            self.assertTrue(5 <= got[endpoint]["latency_ms_p50"] <= 500)
        status, _, body = self.api("custom-events?from=%s&to=%s" % (iso_day(day), iso_day(day + DAY)))
        self.assertEqual(status, 200, body)
        want = dict(self.db.execute("SELECT name, COUNT(DISTINCT id) FROM deliveries WHERE type = "
                                    "'custom' AND ts >= ? AND ts < ? GROUP BY name",
                                    (day, day + DAY)).fetchall())
        self.assertEqual({e["name"]: e["count"] for e in body["events"]}, want)

    def test_4_rerun_is_idempotent_and_restart_keeps_counts(self):
        before = self.series("app_loads")
        # The rerun goes through `vigil batch run`, which asks for one day at a time.
        out = subprocess.run([VIGIL, "batch", "run", "--server", "http://127.0.0.1:%d" %
                              self.server.port, "--admin-token", ADMIN_TOKEN,
                              "--from", iso_day(self.today - 5 * DAY)],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        run = json.loads(out.stdout)
        self.assertEqual(run["days"], 3)  # the days with archived events, of every app
        self.assertEqual(run["events"], self.db.execute(
            "SELECT COUNT(DISTINCT id) FROM deliveries").fetchone()[0])
        self.assertEqual(out.stderr.count("done ("), 6)  # progress: six days asked for
        self.assertEqual(self.series("app_loads"), before)
        # Errors name the fix.
        out = subprocess.run([VIGIL, "batch", "run", "--server", "http://127.0.0.1:%d" %
                              self.server.port, "--admin-token", "wrong"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 1)
        self.assertIn("HTTP 401", out.stderr)
        out = subprocess.run([VIGIL, "batch", "run", "--server", "http://127.0.0.1:1"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 2)
        self.assertIn("--admin-token", out.stderr)
        self.server.kill9()
        self.server.start()
        self.wait_caught_up()
        self.assertEqual(self.series("app_loads"), before)
        # New events after the restart are counted once, by speed.
        body = {"batch_id": "after-restart", "device": {"id": "d-x", "os": "ios"},
                "app": {"version": "2.0"}, "user": {"id": "ux"},
                "events": [{"id": "late-1", "type": "session_start", "ts": self.now}]}
        self.post(body)
        deadline = time.time() + 10
        while self.series("app_loads")[iso_day(self.today)][0] != before[iso_day(self.today)][0] + 1:
            self.assertLess(time.time(), deadline, "the new event never showed")
            time.sleep(0.05)

    def test_5_errors_and_other_apps(self):
        status, _, _ = self.api("metrics?name=app_loads", token=self.other["api_token"])
        self.assertIn(status, (403, 404))
        for path, needle in (("metrics?name=nope", "unknown metric"), ("metrics", "required"),
                             ("metrics?name=app_loads&granularity=week", "granularity"),
                             ("metrics?name=app_loads&from=yesterday", "RFC 3339"),
                             ("metrics?name=app_loads&granularity=minute&from=2020-01-01",
                              "coarser granularity")):
            status, _, body = self.api(path)
            self.assertEqual(status, 400, path)
            self.assertIn(needle, body["error"], path)
        status, _, body = self.server.admin("POST", "/v1/admin/batch/run", {"from": "soon"})
        self.assertEqual(status, 400)
        status, _, body = self.server.json_request("POST", "/v1/admin/batch/run", "{}")
        self.assertEqual(status, 401)

    def test_6_every_documented_metric_answers(self):
        """docs/api.md's metric table is the list the server accepts."""
        src = os.environ.get("VIGIL_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
        with open(os.path.join(src, "docs", "api.md")) as f:
            doc = f.read()
        table = doc[doc.index("| name | value per bucket |"):].split("\n\n")[0]
        names = []
        for line in table.splitlines()[2:]:
            cell = line.split("|")[1]
            parts = [p.strip().strip("`") for p in cell.split(",")]
            base = parts[0]
            for p in parts:
                names.append(base[:base.rindex("_") + 1] + p[1:] if p.startswith("_") else p)
        self.assertIn("network_latency_p95", names)
        self.assertGreaterEqual(len(names), 19)
        for name in names:
            status, _, body = self.api("metrics?name=%s&granularity=day&from=%s" %
                                       (name, iso_day(self.today - 2 * DAY)))
            self.assertEqual(status, 200, (name, body))
            self.assertEqual(len(body["points"]), 3, name)


if __name__ == "__main__":
    unittest.main()

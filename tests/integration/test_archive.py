"""The archive stage on a real server: acknowledged events reach part files by app and occurred
hour, survive kill -9 (before and after their flush) exactly once, and `vigil archive stats`
reports them.
"""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from vigil_harness import VIGIL, Server, batch  # noqa: E402

HOUR = 3600 * 1000
DAY = 24 * HOUR


def archive_stats(server):
    out = subprocess.run([VIGIL, "archive", "stats", "--data", server.data_dir, "--json"],
                         capture_output=True, text=True, env=server.env)
    assert out.returncode == 0, out.stderr
    return {a["app"]: a for a in json.loads(out.stdout)["apps"]}


def wait_rows(server, app, rows, timeout=30):
    deadline = time.time() + timeout
    got = None
    while time.time() < deadline:
        got = archive_stats(server).get(app, {}).get("rows")
        if got == rows:
            return
        time.sleep(0.1)
    raise AssertionError("archive of %s has %s rows, want %d" % (app, got, rows))


class ArchiveTest(unittest.TestCase):
    def setUp(self):
        # Flushes every 200 ms: fast for tests, still several records per part.
        self.server = Server(env={"VIGIL_ARCHIVE_FLUSH_MS": "200"}).start()
        self.addCleanup(self.server.cleanup)
        self.app = self.server.create_app("archive-app")

    def post(self, batch_id, events):
        status, _, body = self.server.post_events(self.app["ingest_key"], batch(batch_id, events))
        self.assertEqual(status, 202, body)

    def test_events_land_in_hour_partitions_and_stats_count_them(self):
        now = int(time.time() * 1000)
        start = now - now % DAY - 2 * DAY  # two days ago, midnight UTC
        events = [{"id": "e%d" % i, "type": "session_start", "ts": start + i * HOUR + 1000}
                  for i in range(30)]
        self.post("b1", events[:15])
        self.post("b2", events[15:])
        wait_rows(self.server, self.app["id"], 30)
        stats = archive_stats(self.server)[self.app["id"]]
        self.assertEqual(stats["days"], 2)
        self.assertEqual(stats["parts"], 30)
        day = time.strftime("%Y-%m-%d", time.gmtime(start / 1000))
        hour_dir = os.path.join(self.server.data_dir, "archive", self.app["id"], day, "05")
        self.assertEqual(len(os.listdir(hour_dir)), 1)
        self.assertTrue(os.listdir(hour_dir)[0].endswith(".vpart"))
        # The table form names the app too.
        out = subprocess.run([VIGIL, "archive", "stats", "--data", self.server.data_dir],
                             capture_output=True, text=True, env=self.server.env, check=True)
        self.assertIn(self.app["id"], out.stdout)
        self.assertIn("30", out.stdout)
        # Its --help says what it does.
        out = subprocess.run([VIGIL, "archive", "stats", "--help"], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0)
        self.assertIn("rows", out.stdout)

    def test_acknowledged_events_survive_kill9_exactly_once(self):
        now = int(time.time() * 1000)
        total = 0
        for round_no in range(3):
            for b in range(5):
                events = [{"id": "r%d-b%d-e%d" % (round_no, b, i), "type": "session_start",
                           "ts": now - i * HOUR} for i in range(4)]
                self.post("r%d-b%d" % (round_no, b), events)
                total += 4
            if round_no == 1:
                wait_rows(self.server, self.app["id"], total)  # flushed, then killed
            self.server.kill9()
            self.server.start()
        wait_rows(self.server, self.app["id"], total)
        # And no part of an uncommitted flush was left behind: rows are distinct ids.
        self.assertEqual(archive_stats(self.server)[self.app["id"]]["rows"], total)


if __name__ == "__main__":
    unittest.main()

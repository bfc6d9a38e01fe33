"""Raw-log retention on a real server: once processing, the archive and speed have all passed an
app's raw segments, the log deletes them, even when the app sent a burst and went quiet (the
readers' raw-log commits used to stop short of processing's late commit, and never moved again).
The processed log's segments go as well, once the archive, speed and the crash-group index have
passed them. What is deleted is exactly the oldest records; the rest, and every archived row,
stay.

Takes about a minute and a half: the log checks retention once a minute.
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from test_archive import archive_stats, wait_rows  # noqa: E402
from vigil_harness import ServerTestCase, batch  # noqa: E402

BATCHES = 150
EVENTS_PER_BATCH = 20


def partition(server, app, log="raw"):
    stats = server.log_stats(log)
    found = [p for p in stats["partitions"] if p["app"] == app]
    assert len(found) == 1, stats
    return found[0]


class LogRetentionTest(ServerTestCase):
    # Retention 0 h: a segment may go as soon as every reader has passed it. 64 KiB segments: the
    # burst below fills several.
    server_env = {"VIGIL_RETENTION_HOURS": "0", "VIGIL_SEGMENT_BYTES": "65536",
                  "VIGIL_ARCHIVE_FLUSH_MS": "200"}

    def test_an_app_that_goes_quiet_gets_its_passed_raw_segments_deleted(self):
        app = self.server.create_app("quiet-app")
        now = int(time.time() * 1000)
        for b in range(BATCHES):
            events = [{"id": "e-%d-%d" % (b, i), "type": "custom", "ts": now,
                       "name": "tapped", "attrs": {"pad": "%064d" % i}}
                      for i in range(EVENTS_PER_BATCH - 1)]
            # One handled exception per batch: processing rewrites such a record in full (a
            # record without one becomes a 12-byte reference), so the processed log fills
            # segments of its own.
            events.append({"id": "e-%d-x" % b, "type": "handled_exception", "ts": now,
                           "error": {"type": "java.lang.IllegalStateException",
                                     "reason": "state %d: %s" % (b, "x" * 2000)}})
            status, _, body = self.server.post_events(app["ingest_key"], batch("b-%d" % b, events))
            self.assertEqual(status, 202, body)
            self.assertEqual(body["accepted"], EVENTS_PER_BATCH, body)
        before = partition(self.server, app["id"])
        self.assertEqual(before["end_offset"], BATCHES)
        self.assertGreaterEqual(before["segments"], 4, before)
        wait_rows(self.server, app["id"], BATCHES * EVENTS_PER_BATCH)

        processed_before = partition(self.server, app["id"], "processed")
        self.assertGreaterEqual(processed_before["segments"], 4, processed_before)

        # The app is quiet from now on. Within two retention checks every segment but the one
        # being written must go, in both logs.
        deadline = time.time() + 150
        part = before
        while time.time() < deadline:
            part = partition(self.server, app["id"])
            processed = partition(self.server, app["id"], "processed")
            if part["segments"] == 1 and processed["segments"] == 1:
                break
            time.sleep(2)
        self.assertEqual(part["segments"], 1, part)
        self.assertEqual(processed["segments"], 1, processed)
        for reader in ("archive", "groups", "speed"):
            self.assertEqual(processed["consumers"].get(reader), BATCHES, processed)
        self.assertEqual(processed["end_offset"], BATCHES, processed)
        for reader in ("process", "archive", "speed"):
            self.assertEqual(part["consumers"].get(reader), BATCHES, part)
        self.assertGreater(part["start_offset"], 0, part)
        self.assertEqual(part["end_offset"], BATCHES, part)
        self.assertEqual(part["records"], BATCHES - part["start_offset"], part)

        # What is left is exactly the newest batches, whole.
        dump = self.server.log_dump(app["id"])
        kept = sorted({e["offset"] for e in dump})
        self.assertEqual(kept, list(range(part["start_offset"], BATCHES)))
        for e in dump:
            self.assertEqual(e["batch_id"], "b-%d" % e["offset"])
        self.assertEqual(len(dump), (BATCHES - part["start_offset"]) * EVENTS_PER_BATCH)
        # And the archive, the source of truth, still has every event.
        self.assertEqual(archive_stats(self.server)[app["id"]]["rows"], BATCHES * EVENTS_PER_BATCH)


if __name__ == "__main__":
    unittest.main()

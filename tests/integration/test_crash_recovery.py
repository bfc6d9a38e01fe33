"""kill -9 mid-load: every event that got a 202 is in the log exactly once, over several rounds.

Concurrent clients post batches of unique events (some retried with the same batch_id); the
server is SIGKILLed while they run, then restarted on the same data directory. After the last
round, `vigil log dump` must hold every acknowledged event id exactly once.
"""
import collections
import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from vigil_harness import KeepAliveClient, Server, batch  # noqa: E402

ROUNDS = 3
CLIENTS = 8
LOAD_SECONDS = 1.5


def client_loop(port, key, round_no, client_no, stop, acked, lock, batches):
    client = KeepAliveClient(port, key)
    n = 0
    while not stop.is_set():
        batch_id = "r%d-c%d-b%d" % (round_no, client_no, n)
        events = [{"id": "%s-e%d" % (batch_id, i), "type": "session_start",
                   "ts": int(time.time() * 1000)} for i in range(5)]
        # Send twice now and then: a retry must not double the events.
        for attempt in range(2 if n % 7 == 0 else 1):
            answer = client.post_batch(batch(batch_id, events))
            if answer is None:
                time.sleep(0.05)  # the server died; this batch was not acknowledged
            elif answer[0] == 202:
                assert json.loads(answer[1])["accepted"] == 5, answer
                with lock:
                    for e in events:
                        acked.add(e["id"])
                    batches[batch_id] = events
        n += 1
    client.close()


def spare_rolls(server, app_id):
    """Raw log segments this server run rolled into a spare written ahead of time."""
    return int(server.metric('vigil_log_segment_rolls_total{app="%s",spare="ready"}' % app_id)
               or 0)


class CrashRecoveryTest(unittest.TestCase):
    def run_rounds(self, server, app):
        """ROUNDS of load, each ended by kill -9; returns the spare rolls, the batches
        acknowledged (batch_id: events) and the events the log holds."""
        acked = set()
        batches = {}
        lock = threading.Lock()
        rolls = 0
        for round_no in range(ROUNDS):
            stop = threading.Event()
            threads = [threading.Thread(target=client_loop,
                                        args=(server.port, app["ingest_key"], round_no, c, stop, acked, lock,
                                              batches))
                       for c in range(CLIENTS)]
            for t in threads:
                t.start()
            try:
                time.sleep(LOAD_SECONDS)
                rolls += spare_rolls(server, app["id"])
                server.kill9()  # mid-load
            finally:
                stop.set()
                for t in threads:
                    t.join()
            server.start()
        dumped = server.log_dump(app["id"])
        counts = collections.Counter(e["id"] for e in dumped)
        self.assertGreater(len(acked), 100, "the load was too small to mean anything")
        missing = acked - set(counts)
        self.assertEqual(missing, set(), "acknowledged events lost")
        dups = {k: v for k, v in counts.items() if v > 1}
        self.assertEqual(dups, {}, "events stored more than once")
        print("acknowledged %d events over %d kill -9 rounds; log holds %d events"
              % (len(acked), ROUNDS, len(counts)))
        return rolls, batches, dumped

    def test_acknowledged_events_survive_sigkill_exactly_once(self):
        server = Server().start()
        try:
            self.run_rounds(server, server.create_app("crash"))
        finally:
            server.cleanup()

    def test_acknowledged_events_survive_sigkill_while_segments_roll_into_spares(self):
        # 64 KiB segments fill many times a second: each next one is written ahead as a spare
        # (log/partition.h), and the kills land while spares are written and rolled into.
        server = Server(env={"VIGIL_SEGMENT_BYTES": str(64 << 10)}).start()
        try:
            app = server.create_app("crash-spares")
            rolls, batches, dumped = self.run_rounds(server, app)
            self.assertGreater(rolls, 0, "no segment was rolled into a spare: the test missed its point")
            print("%d rolls into spares before the kills" % rolls)
            # Every sealed segment has its summary (log/segment_summary.h) after the restarts,
            # also one sealed just before a kill: recovery reads such a segment and writes it.
            part = os.path.join(server.data_dir, "log", "raw", app["id"])
            segments = sorted(f for f in os.listdir(part) if f.endswith(".seg"))
            summaries = sorted(f for f in os.listdir(part) if f.endswith(".summary"))
            self.assertGreater(len(segments), 10)
            self.assertEqual(summaries, [f[:-4] + ".summary" for f in segments[:-1]])
            # And the dedup window came back through the restarts (from the summaries and the
            # last segment: the unit tests in src/log/recovery_test.cc prove which is read): a
            # retry of an acknowledged batch from any round is a duplicate, and adds nothing.
            client = KeepAliveClient(server.port, app["ingest_key"])
            retried = sorted(batches)[::max(1, len(batches) // 200)]
            for batch_id in retried:
                status, body = client.post_batch(batch(batch_id, batches[batch_id]))
                self.assertEqual(status, 202, body)
                self.assertTrue(json.loads(body).get("duplicate"), (batch_id, body))
            client.close()
            # `log stats` counts from the summaries what the dump read record by record.
            stats = server.log_stats()
            mine = [p for p in stats["partitions"] if p["app"] == app["id"]][0]
            self.assertEqual(mine["events"], len(dumped))
            self.assertEqual(mine["segments"], len(segments))
            self.assertEqual(len(server.log_dump(app["id"])), len(dumped))
            print("%d sealed segments with summaries; %d retried batches all duplicates"
                  % (len(summaries), len(retried)))
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)

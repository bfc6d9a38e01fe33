"""SIGTERM mid-load: the server stops accepting, answers what it took, drains the log and exits 0.

Concurrent clients post batches of unique events over keep-alive connections; the server gets
SIGTERM while they run. What must hold: it exits 0 within a bound, saying it stopped; every
request it answered got 202 or 503 (nothing else); after a restart on the same directory the log
holds every event of a 202 exactly once and none of a 503; a request that got no answer at all
(its connection closed) may or may not have been stored, but at most once.
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

CLIENTS = 8
EVENTS_PER_BATCH = 5


def client_loop(port, key, client_no, stop, outcomes, lock):
    client = KeepAliveClient(port, key)
    n = 0
    while not stop.is_set():
        batch_id = "c%d-b%d" % (client_no, n)
        n += 1
        events = [{"id": "%s-e%d" % (batch_id, i), "type": "session_start",
                   "ts": int(time.time() * 1000)} for i in range(EVENTS_PER_BATCH)]
        answer = client.post_batch(batch(batch_id, events))
        outcome = None if answer is None else answer[0]  # None: no answer, the server went away
        if outcome == 202:
            assert json.loads(answer[1])["accepted"] == EVENTS_PER_BATCH, answer
        with lock:
            outcomes[batch_id] = outcome
        if outcome is None:
            time.sleep(0.05)  # the server is going or gone: do not spin on refused connects
    client.close()


class GracefulShutdownTest(unittest.TestCase):
    def test_sigterm_under_load_answers_drains_and_loses_nothing(self):
        server = Server().start()
        self.addCleanup(server.cleanup)
        app = server.create_app("shutdown-app")
        stop = threading.Event()
        outcomes = {}
        lock = threading.Lock()
        threads = [threading.Thread(target=client_loop,
                                    args=(server.port, app["ingest_key"], c, stop, outcomes, lock))
                   for c in range(CLIENTS)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        server.proc.terminate()  # SIGTERM
        exit_code = server.proc.wait(timeout=60)
        time.sleep(0.3)  # let the clients see the server gone
        stop.set()
        for t in threads:
            t.join(timeout=30)
        server.stop()  # closes its pipes
        self.assertEqual(exit_code, 0)
        self.assertTrue(any("vigil: stopped" in line for line in server.output),
                        list(server.output)[-10:])

        counts = collections.Counter(outcomes.values())
        self.assertGreater(counts[202], 50, counts)
        self.assertEqual(set(counts) - {202, 503, None}, set(), counts)

        restarted = Server(data_dir=server.data_dir).start()
        self.addCleanup(restarted.cleanup)
        logged = collections.Counter(e["id"] for e in restarted.log_dump(app["id"]))
        self.assertEqual([i for i, n in logged.items() if n > 1], [])  # nothing twice
        logged_batches = collections.Counter(i.rsplit("-e", 1)[0] for i in logged)
        for batch_id, outcome in outcomes.items():
            if outcome == 202:
                self.assertIn(batch_id, logged_batches)
            elif outcome == 503:
                self.assertNotIn(batch_id, logged_batches)
        self.assertEqual(set(logged_batches) - set(outcomes), set())
        # Each stored batch whole.
        self.assertEqual({b: n for b, n in logged_batches.items() if n != EVENTS_PER_BATCH}, {})


if __name__ == "__main__":
    unittest.main()

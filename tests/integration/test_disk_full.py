"""A full disk on a real server: its data directory on a small ext4 filesystem (loop-mounted,
no blocks reserved for root), filled up while batches arrive.

What must hold: batches the log cannot store get 503 with Retry-After and an error naming the
disk, and so do symbol uploads; /readyz says not ready, /healthz still up; nothing acknowledged is lost or doubled. Once
space is freed, /readyz turns ready again on its own (no traffic needed: a load balancer that
took the instance out would otherwise never send any), the refused batches go in when retried,
every stage catches up (archive, speed), and all of it survives kill -9.

Needs root and loop devices (mount -o loop); skipped, saying why, without them.
"""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from test_archive import archive_stats, wait_rows  # noqa: E402
from vigil_harness import Server, free_bytes, mount_small_filesystem  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures")
EVENTS_PER_BATCH = 20
FS_BYTES = 160 << 20
LEFT_FREE = 3 << 20


def make_batch(batch_id, seed):
    now = int(time.time() * 1000)
    # Random hex: the log stores records uncompressed, so each batch takes ~25 KiB of disk.
    pad = os.urandom(600).hex()
    return {"batch_id": batch_id, "device": {"id": "dev-%d" % seed}, "user": {"id": "u-%d" % seed},
            "events": [{"id": "%s-e%d" % (batch_id, i), "type": "custom", "ts": now,
                        "name": "fill", "attrs": {"pad": pad}}
                       for i in range(EVENTS_PER_BATCH)]}


class DiskFullTest(unittest.TestCase):
    def setUp(self):
        self.mnt = mount_small_filesystem(self, FS_BYTES)
        self.data_dir = os.path.join(self.mnt, "data")
        # A disk truly full: no reserve kept for the stages (test_disk_reserve.py tests that).
        self.env = {"VIGIL_SEGMENT_BYTES": str(1 << 20), "VIGIL_ARCHIVE_FLUSH_MS": "200",
                    "VIGIL_MIN_FREE_DISK_MB": "0"}
        self.server = Server(data_dir=self.data_dir, env=self.env).start()
        self.addCleanup(lambda: self.server.cleanup())  # runs before umount (cleanups are LIFO)
        self.app = self.server.create_app("disk-full")

    def post(self, batch):
        return self.server.post_events(self.app["ingest_key"], batch)

    def upload_symbols(self):
        with open(os.path.join(FIXTURES, "breakpad", "linux_inline.new.sym"), "rb") as f:
            data = f.read()
        return self.server.json_request(
            "POST", "/v1/apps/%s/symbols" % self.app["id"], data,
            {"Authorization": "Bearer " + self.app["api_token"]})

    def free_bytes(self):
        return free_bytes(self.mnt)

    def test_a_full_disk_refuses_batches_loses_none_and_recovers_once_space_is_freed(self):
        batches = {}  # batch_id -> body
        acked = set()
        for b in range(5):
            batches["warm-%d" % b] = make_batch("warm-%d" % b, b)
            status, _, body = self.post(batches["warm-%d" % b])
            self.assertEqual(status, 202, body)
            acked.add("warm-%d" % b)
        time.sleep(1.5)  # the speed layer's first writes (the aggregates' store)

        filler = os.path.join(self.mnt, "filler")
        subprocess.run(["fallocate", "-l", str(self.free_bytes() - LEFT_FREE), filler],
                       check=True)
        refused = []
        first_refusal = None
        for b in range(600):
            batch_id = "b-%d" % b
            batches[batch_id] = make_batch(batch_id, b)
            status, headers, body = self.post(batches[batch_id])
            if status == 202:
                self.assertEqual(body["accepted"], EVENTS_PER_BATCH, body)
                acked.add(batch_id)
                continue
            self.assertEqual(status, 503, body)
            refused.append(batch_id)
            if first_refusal is None:
                first_refusal = (headers, body)
            if len(refused) >= 10:
                break
        self.assertEqual(len(refused), 10, "the disk never filled up")
        time.sleep(3)  # the stages run into the full disk too (the archive flushes every 200 ms)
        headers, body = first_refusal
        self.assertIn("No space left on device", body["error"])
        self.assertIn("retry after the Retry-After delay", body["error"])
        retry_after = {k.lower(): v for k, v in headers.items()}.get("retry-after")
        self.assertIsNotNone(retry_after, headers)
        self.assertGreaterEqual(int(retry_after), 1)

        status, _, ready = self.server.json_request("GET", "/readyz")
        self.assertEqual(status, 503, ready)
        self.assertIn("the log is not writable", ready["error"])
        self.assertIn("No space left on device", ready["error"])
        status, _, _ = self.server.json_request("GET", "/healthz")
        self.assertEqual(status, 200)
        # A symbol file cannot be stored either (what little the log left free is taken too):
        # 503 as well, not a server error.
        rest = os.path.join(self.mnt, "filler-rest")
        if self.free_bytes() > 0:
            subprocess.run(["fallocate", "-l", str(self.free_bytes()), rest], check=True)
        status, headers, body = self.upload_symbols()
        self.assertEqual(status, 503, body)
        self.assertIn("No space left on device", body["error"])
        self.assertIn("retry-after", {k.lower() for k in headers})
        self.assertGreaterEqual(self.server.metric('vigil_http_requests_total{code="503"}')
                                or 0, 10)

        # Space comes back. Without any traffic, /readyz must say so within a few seconds.
        os.unlink(filler)
        if os.path.exists(rest):
            os.unlink(rest)
        deadline = time.time() + 15
        while time.time() < deadline:
            status, _, ready = self.server.json_request("GET", "/readyz")
            if status == 200:
                break
            time.sleep(0.2)
        self.assertEqual(status, 200, ready)

        status, _, body = self.upload_symbols()
        self.assertEqual(status, 201, body)

        # The SDK retries what was refused: none of it was stored, so none is a duplicate.
        for batch_id in refused:
            status, _, body = self.post(batches[batch_id])
            self.assertEqual(status, 202, body)
            self.assertNotIn("duplicate", body)
            acked.add(batch_id)

        def expected_ids():
            return sorted("%s-e%d" % (b, i) for b in acked for i in range(EVENTS_PER_BATCH))

        def logged_ids():
            return sorted(e["id"] for e in self.server.log_dump(self.app["id"]))

        self.assertEqual(logged_ids(), expected_ids())  # each acknowledged event once
        total = len(acked) * EVENTS_PER_BATCH
        # Every stage got through the episode and caught up.
        wait_rows(self.server, self.app["id"], total, timeout=60)
        deadline = time.time() + 60
        while time.time() < deadline and self.server.metric("vigil_speed_events_total") != total:
            time.sleep(0.2)
        self.assertEqual(self.server.metric("vigil_speed_events_total"), total)

        # And all of it survives a crash.
        self.server.kill9()
        self.server = Server(data_dir=self.data_dir, env=self.env).start()
        self.assertEqual(logged_ids(), expected_ids())
        self.assertEqual(archive_stats(self.server)[self.app["id"]]["rows"], total)
        status, _, _ = self.server.json_request("GET", "/readyz")
        self.assertEqual(status, 200)


if __name__ == "__main__":
    unittest.main()

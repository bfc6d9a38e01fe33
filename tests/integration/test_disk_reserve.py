"""The disk reserve (min_free_disk_mb, log/local_log.h "Disk reserve") on a real server whose data
directory is a small ext4 filesystem.

What must hold: below the reserve, batches get 503 with Retry-After and an error naming
min_free_disk_mb, /readyz says not ready (and why), /healthz stays up, and the server writes
next to nothing more; once space is back, it is ready again on its own. Between the reserve and
twice it, retention deletes raw log segments every reader has passed without waiting for
retention_hours (168 here), and says so; every acknowledged event is still in the archive,
also after kill -9.

Needs root and loop devices; skipped, saying why, without them.
"""
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from test_archive import archive_stats, wait_rows  # noqa: E402
from test_disk_full import EVENTS_PER_BATCH, make_batch  # noqa: E402
from test_symbols_api import fixture  # noqa: E402
from vigil_harness import Server, free_bytes, mount_small_filesystem  # noqa: E402

FS_BYTES = 256 << 20
RESERVE_MB = 48


class DiskReserveTest(unittest.TestCase):
    def setUp(self):
        self.mnt = mount_small_filesystem(self, FS_BYTES)
        self.data_dir = os.path.join(self.mnt, "data")
        self.env = {"VIGIL_SEGMENT_BYTES": str(1 << 20), "VIGIL_ARCHIVE_FLUSH_MS": "200",
                    "VIGIL_MIN_FREE_DISK_MB": str(RESERVE_MB)}
        self.server = Server(data_dir=self.data_dir, env=self.env).start()
        self.addCleanup(lambda: self.server.cleanup())  # before the umount (LIFO)
        self.app = self.server.create_app("reserve")
        self.ballast = os.path.join(self.mnt, "ballast")

    def post(self, batch):
        return self.server.post_events(self.app["ingest_key"], batch)

    def leave_free(self, mib):
        """Resizes the ballast file so that the filesystem has about `mib` MiB free."""
        if os.path.exists(self.ballast):
            os.unlink(self.ballast)
        subprocess.run(["fallocate", "-l", str(free_bytes(self.mnt) - (mib << 20)), self.ballast],
                       check=True)

    def upload_symbols(self, data):
        return self.server.json_request("POST", "/v1/apps/%s/symbols" % self.app["id"], data,
                                        {"Authorization": "Bearer " + self.app["api_token"]})

    def raw_segments(self):
        part = os.path.join(self.data_dir, "log", "raw", self.app["id"])
        return sorted(f for f in os.listdir(part) if f.endswith(".seg"))

    def wait_ready(self, want_status, timeout=10):
        deadline = time.time() + timeout
        while True:
            status, _, body = self.server.json_request("GET", "/readyz")
            if status == want_status or time.time() > deadline:
                return status, body
            time.sleep(0.1)

    def test_chunked_symbol_uploads_keep_the_reserve_and_a_refused_finish_can_be_retried(self):
        auth = {"Authorization": "Bearer " + self.app["api_token"]}
        uploads = "/v1/apps/%s/symbols/uploads" % self.app["id"]
        symbols = fixture("breakpad/linux_inline.new.sym")
        status, _, created = self.server.json_request("POST", uploads + "?size=%d" % len(symbols),
                                                      None, auth)
        self.assertEqual(status, 201, created)
        upload = uploads + "/" + created["upload_id"]
        status, _, body = self.server.json_request("PUT", upload + "?offset=0", symbols, auth)
        self.assertEqual((status, body["received"]), (200, len(symbols)), body)

        self.leave_free(RESERVE_MB - 8)
        for method, path, sent in (("POST", upload + "/finish", None),
                                   ("PUT", upload + "?offset=0", symbols),
                                   ("POST", uploads + "?size=%d" % len(symbols), None)):
            status, headers, body = self.server.json_request(method, path, sent, auth)
            self.assertEqual(status, 503, (method, path, body))
            self.assertIn("retry-after", {k.lower() for k in headers})
            self.assertIn("(min_free_disk_mb)", body["error"])
        # The refused finish left the upload whole, as it was.
        status, _, body = self.server.json_request("GET", upload, None, auth)
        self.assertEqual((status, body["received"], body["size"]),
                         (200, len(symbols), len(symbols)), body)

        self.leave_free(RESERVE_MB + 32)
        status, _, body = self.server.json_request("POST", upload + "/finish", None, auth)
        self.assertEqual(status, 201, body)
        self.assertEqual(body["debug_id"], "bba6fa10-b8aa-b33d-0000-000000000000")
        self.assertEqual(self.server.json_request("GET", upload, None, auth)[0], 404)

    def test_ingest_keeps_the_reserve_and_retention_frees_consumed_segments_early(self):
        acked = []
        for b in range(5):
            status, _, body = self.post(make_batch("warm-%d" % b, b))
            self.assertEqual(status, 202, body)
            acked.append("warm-%d" % b)
        time.sleep(1.5)  # the speed layer's first writes (the aggregates' store)

        # 1. Under the reserve: refused, saying why and what to do.
        self.leave_free(RESERVE_MB - 8)
        status, ready = self.wait_ready(503)
        self.assertEqual(status, 503, ready)
        self.assertIn("min_free_disk_mb", ready["error"])
        self.assertEqual(self.server.json_request("GET", "/healthz")[0], 200)
        before = free_bytes(self.mnt)
        for b in range(20):
            status, headers, body = self.post(make_batch("refused-%d" % b, b))
            self.assertEqual(status, 503, body)
        self.assertIn("MiB kept for the stages behind ingest (min_free_disk_mb); free space on "
                      "it, or lower min_free_disk_mb", body["error"])
        self.assertIn("retry-after", {k.lower() for k in headers})
        # 20 batches of ~25 KiB were not written: the stages may flush a little meanwhile.
        self.assertGreater(free_bytes(self.mnt), before - (256 << 10))
        # Symbol files go to the same disk: refused too, before anything is written.
        symbols = fixture("breakpad/linux_inline.new.sym")
        status, headers, body = self.upload_symbols(symbols)
        self.assertEqual(status, 503, body)
        self.assertIn("retry-after", {k.lower() for k in headers})
        self.assertIn("would leave less than the %d MiB kept for the stages behind ingest "
                      "(min_free_disk_mb); free space on it, delete symbol files no longer "
                      "needed, or lower min_free_disk_mb" % RESERVE_MB, body["error"])
        self.assertFalse(os.path.exists(os.path.join(self.data_dir, "symbols", self.app["id"])))
        # The stages behind the log kept their share of the disk and went on.
        wait_rows(self.server, self.app["id"], len(acked) * EVENTS_PER_BATCH, timeout=30)

        # 2. Between the reserve and twice it: taken again, and the raw log's segments go as
        # soon as every reader has passed them, though retention_hours is a week.
        self.leave_free(RESERVE_MB + 32)
        status, ready = self.wait_ready(200)
        self.assertEqual(status, 200, ready)
        status, _, body = self.upload_symbols(symbols)
        self.assertEqual(status, 201, body)
        for b in range(400):  # ~10 MiB of log
            batch_id = "b-%d" % b
            status, _, body = self.post(make_batch(batch_id, b))
            self.assertEqual(status, 202, body)
            acked.append(batch_id)
        total = len(acked) * EVENTS_PER_BATCH
        wait_rows(self.server, self.app["id"], total, timeout=60)
        self.assertTrue(self.server.wait_output(
            "deleting segments every reader has passed before their retention", timeout=30),
            "".join(self.server.output)[-2000:])
        deadline = time.time() + 30
        while len(self.raw_segments()) > 2 and time.time() < deadline:
            time.sleep(0.2)
        self.assertLessEqual(len(self.raw_segments()), 2, self.raw_segments())
        logged = len(self.server.log_dump(self.app["id"]))
        self.assertLess(logged, total)  # the log kept only its tail...

        # 3. ... and the archive, the source of truth, every event, also after kill -9.
        self.server.kill9()
        self.server = Server(data_dir=self.data_dir, env=self.env).start()
        self.assertEqual(archive_stats(self.server)[self.app["id"]]["rows"], total)
        # A server started on a disk under the reserve says so at once.
        self.leave_free(RESERVE_MB - 8)
        self.server.kill9()
        self.server = Server(data_dir=self.data_dir, env=self.env).start()
        self.assertTrue(self.server.wait_output(
            "warning: ingest will answer 503 until this changes: the disk holding the log has"))
        self.leave_free(RESERVE_MB + 32)
        self.assertEqual(self.wait_ready(200)[0], 200)
        for batch_id in ("warm-0", "b-399"):  # retries of acknowledged batches add nothing
            status, _, body = self.post(make_batch(batch_id, 0))
            self.assertEqual(status, 202, body)
            self.assertTrue(body.get("duplicate"), body)


if __name__ == "__main__":
    unittest.main()

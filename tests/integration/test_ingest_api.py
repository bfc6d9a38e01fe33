"""Every answer of POST /v1/events and the admin API, against the real server over HTTP.

Each expected status and error text is written here from docs/protocol.md, not read from the code.
"""
import gzip
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from vigil_harness import ADMIN_TOKEN, VIGIL, Server, ServerTestCase, batch, session  # noqa: E402


class IngestApiTest(ServerTestCase):
    @classmethod
    def set_up_server(cls):
        cls.app = cls.server.create_app("ingest-test")
        cls.key = cls.app["ingest_key"]

    def test_valid_batch_is_accepted_and_in_the_log(self):
        now = int(time.time() * 1000)
        status, _, body = self.server.post_events(self.key, batch("valid-1", [
            session("v1-e1", now),
            {"id": "v1-e2", "type": "network", "ts": now, "custom_field": "kept",
             "network": {"method": "GET", "url": "https://api.example.com/v1/x", "status": 200,
                         "duration_ms": 42}}]))
        self.assertEqual(status, 202)
        self.assertEqual(body, {"accepted": 2, "rejected": 0, "errors": []})
        events = {e["id"]: e for e in self.server.log_dump(self.app["id"])}
        self.assertEqual(events["v1-e1"]["type"], "session_start")
        self.assertEqual(events["v1-e1"]["device"]["id"], "dev-1")
        self.assertEqual(events["v1-e1"]["app"]["version"], "2.3.1")
        self.assertEqual(events["v1-e1"]["user"]["id"], "user-1")
        self.assertEqual(events["v1-e2"]["network"]["duration_ms"], 42)
        self.assertEqual(events["v1-e2"]["custom_field"], "kept")
        self.assertEqual(events["v1-e2"]["ts"], now)

    def test_identity_and_zstd_bodies_are_accepted(self):
        payload = json.dumps(batch("enc-1", [session("enc-1-e")])).encode()
        status, _, body = self.server.post_events(self.key, None, encoding=None, raw=payload)
        self.assertEqual((status, body["accepted"]), (202, 1))
        z = subprocess.run(["zstd", "-q", "-c"], input=json.dumps(batch("enc-2", [session("enc-2-e")])).encode(),
                           capture_output=True, check=True).stdout
        status, _, body = self.server.post_events(self.key, None, encoding="zstd", raw=z)
        self.assertEqual((status, body["accepted"]), (202, 1))

    def test_mixed_batch_keeps_valid_events(self):
        now = int(time.time() * 1000)
        status, _, body = self.server.post_events(self.key, batch("mixed-1", [
            session("m-ok", now),
            {"id": "m-bad", "type": "teleport", "ts": now},
            {"id": "m-net", "type": "network", "ts": now, "network": {"method": "GET"}}]))
        self.assertEqual(status, 202)
        self.assertEqual(body["accepted"], 1)
        self.assertEqual(body["rejected"], 2)
        self.assertEqual(body["errors"], [
            {"index": 1, "error": "type must be one of session_start, crash, handled_exception, "
                                  "network, user_flow, custom"},
            {"index": 2, "error": "network: network.url must be a non-empty string"}])
        ids = [e["id"] for e in self.server.log_dump(self.app["id"])]
        self.assertIn("m-ok", ids)
        self.assertNotIn("m-bad", ids)

    def test_retried_batch_id_is_a_duplicate_and_not_appended_again(self):
        payload = batch("dup-1", [session("dup-e1"), session("dup-e2")])
        s1, _, b1 = self.server.post_events(self.key, payload)
        s2, _, b2 = self.server.post_events(self.key, payload)
        self.assertEqual((s1, s2), (202, 202))
        self.assertNotIn("duplicate", b1)
        self.assertTrue(b2["duplicate"])
        ids = [e["id"] for e in self.server.log_dump(self.app["id"])]
        self.assertEqual(ids.count("dup-e1"), 1)

    def test_clock_skew_is_corrected(self):
        now = int(time.time() * 1000)
        skew = 3600 * 1000  # the device clock is an hour behind
        status, _, body = self.server.post_events(
            self.key, batch("skew-1", [session("skew-e", now - skew - 5000)], sent_at=now - skew))
        self.assertEqual(status, 202)
        self.assertIn("clock_skew_corrected_ms", body)
        event = [e for e in self.server.log_dump(self.app["id"]) if e["id"] == "skew-e"][0]
        # Corrected ts lands within a few seconds of (now - 5 s), whatever the request latency.
        self.assertLess(abs(event["ts"] - (now - 5000)), 5000)
        self.assertIn("clock_skew_ms", event)

    def assertError(self, answer, status, text):
        self.assertEqual(answer[0], status, answer)
        self.assertEqual(answer[2], {"error": text})

    def test_bad_bodies_are_400(self):
        h = {"X-Vigil-Key": self.key}
        self.assertError(self.server.json_request("POST", "/v1/events", b"", h), 400,
                         "body is empty; send a JSON object with batch_id and events")
        self.assertError(self.server.json_request("POST", "/v1/events", b'{"batch_id":"x","events":{}}', h),
                         400, "events must be an array of event objects")
        status, _, body = self.server.json_request("POST", "/v1/events", b'{"batch_id":"x","ev', h)
        self.assertEqual(status, 400)
        self.assertTrue(body["error"].startswith("body is not valid JSON"), body)
        gz = gzip.compress(json.dumps(batch("trunc", [session("t")])).encode())
        status, _, body = self.server.post_events(self.key, None, encoding="gzip", raw=gz[:-8])
        self.assertEqual(status, 400)
        self.assertEqual(body["error"], "body is not a valid gzip stream (corrupt or truncated)")
        self.assertError(self.server.json_request("POST", "/v1/events", b'{"events":[]}', h), 400,
                         "batch_id is required: a unique string of at most 128 bytes per batch, "
                         "reused when the batch is retried")

    def test_auth_and_method_errors(self):
        body = json.dumps(batch("auth", [session("a")])).encode()
        self.assertError(self.server.json_request("POST", "/v1/events", body), 401,
                         "missing X-Vigil-Key header: send your app's ingest key")
        self.assertError(self.server.json_request("POST", "/v1/events", body, {"X-Vigil-Key": "nope"}),
                         401, "unknown ingest key: check the X-Vigil-Key header against your app's key")
        self.assertError(self.server.json_request("GET", "/v1/events", None, {"X-Vigil-Key": self.key}),
                         405, "use POST to send events to /v1/events")

    def test_disabled_app_gets_403_until_enabled(self):
        app = self.server.create_app("to-disable")
        status, _, a = self.server.admin("POST", "/v1/admin/apps/%s/disable" % app["id"])
        self.assertEqual((status, a["disabled"]), (200, True))
        answer = self.server.post_events(app["ingest_key"], batch("d1", [session("d1")]))
        self.assertError(answer, 403, "app '%s' is disabled; an admin can enable it again" % app["id"])
        status, _, a = self.server.admin("POST", "/v1/admin/apps/%s/enable" % app["id"])
        self.assertEqual((status, a["disabled"]), (200, False))
        self.assertEqual(self.server.post_events(app["ingest_key"], batch("d2", [session("d2")]))[0], 202)

    def test_a_new_api_token_replaces_the_old_one_and_the_ingest_key_stays(self):
        app = self.server.create_app("to-rotate")
        old = {"Authorization": "Bearer " + app["api_token"]}
        self.assertEqual(self.server.json_request("GET", "/v1/app", None, old)[2]["id"], app["id"])
        status, _, rotated = self.server.admin("POST", "/v1/admin/apps/%s/api-token" % app["id"])
        self.assertEqual(status, 200, rotated)
        self.assertTrue(rotated["api_token"].startswith("vat_"))
        self.assertNotEqual(rotated["api_token"], app["api_token"])
        self.assertEqual(rotated["ingest_key"], app["ingest_key"])
        self.assertEqual(self.server.json_request("GET", "/v1/app", None, old)[0], 401)
        new = {"Authorization": "Bearer " + rotated["api_token"]}
        self.assertEqual(self.server.json_request("GET", "/v1/app", None, new)[2]["id"], app["id"])
        # Shown once: not in the app's listing.
        self.assertNotIn("api_token", self.server.admin("GET", "/v1/admin/apps/" + app["id"])[2])
        # SDKs keep sending with the same ingest key.
        self.assertEqual(self.server.post_events(app["ingest_key"], batch("rot-1", [session("rot-1")]))[0], 202)
        self.assertError(self.server.admin("GET", "/v1/admin/apps/%s/api-token" % app["id"]), 405,
                         "use POST to give an app a new API token")
        self.assertError(self.server.admin("POST", "/v1/admin/apps/app_nope/api-token"), 404,
                         "no app with id 'app_nope'")

    def test_size_caps_are_413(self):
        big = b"x" * ((1 << 20) + 1)
        status, _, body = self.server.json_request(
            "POST", "/v1/events", big, {"X-Vigil-Key": self.key, "Content-Encoding": "identity"})
        self.assertEqual(status, 413)
        self.assertIn("over the 1048576-byte cap", body["error"])
        # A gzip bomb: 17 MiB of JSON whitespace compresses to ~17 KiB.
        bomb = gzip.compress(b'{"batch_id":"bomb","events":[]' + b" " * (17 << 20) + b"}")
        status, _, body = self.server.post_events(self.key, None, encoding="gzip", raw=bomb)
        self.assertEqual(status, 413)
        self.assertEqual(body["error"], "decompressed body is over the 16777216-byte cap; send smaller batches")

    def test_unknown_encoding_is_415(self):
        self.assertError(self.server.post_events(self.key, None, encoding="br", raw=b"xx"), 415,
                         "Content-Encoding 'br' is not supported; send gzip, zstd or identity")

    def test_admin_requires_token_and_lists_apps(self):
        self.assertError(self.server.json_request("GET", "/v1/admin/apps"), 401,
                         "missing admin token: send Authorization: Bearer <admin token>")
        self.assertEqual(self.server.json_request("GET", "/v1/admin/apps", None,
                                                  {"Authorization": "Bearer wrong"})[0], 401)
        status, _, listing = self.server.admin("GET", "/v1/admin/apps")
        self.assertEqual(status, 200)
        self.assertIn(self.app["id"], [a["id"] for a in listing["apps"]])
        self.assertTrue(all("api_token" not in a for a in listing["apps"]))
        self.assertEqual(self.server.admin("POST", "/v1/admin/apps", {"nom": 1})[0], 400)
        self.assertEqual(self.server.admin("POST", "/v1/admin/apps/nope/disable")[0], 404)

    def test_health_ready_and_metrics(self):
        self.assertEqual(self.server.json_request("GET", "/healthz")[:1], (200,))
        self.assertEqual(self.server.json_request("GET", "/readyz")[2], {"status": "ready"})
        self.server.post_events(self.key, batch("metrics-1", [session("mx1"), {"id": "mx2", "type": "x", "ts": 1}]))
        status, headers, text = self.server.request("GET", "/metrics")
        self.assertEqual(status, 200)
        text = text.decode()
        self.assertRegex(text, r'vigil_http_requests_total\{code="202"\} [1-9]')
        self.assertRegex(text, r'vigil_events_rejected_total\{reason="bad_type"\} [1-9]')
        self.assertRegex(text, r"vigil_events_accepted_total [1-9]")
        self.assertIn("vigil_log_fsync_seconds_bucket", text)
        self.assertRegex(text, r'vigil_log_bytes\{app="%s"\} [1-9]' % self.app["id"])
        # The dedup window of an app of its own: three batch ids, one sent twice, in a table of
        # 64 slots of 16 bytes (log/dedup_table.h).
        app = self.server.create_app("dedup-metrics")
        for batch_id in ("d1", "d2", "d1", "d3"):
            status, _, body = self.server.post_events(app["ingest_key"], batch(batch_id, [session("e-" + batch_id)]))
            self.assertEqual(status, 202, body)
        self.assertEqual(self.server.metric('vigil_log_dedup_keys{app="%s"}' % app["id"]), 3)
        self.assertEqual(self.server.metric('vigil_log_dedup_bytes{app="%s"}' % app["id"]), 1024)
        # The partition's first segment is never a spare: a spare is written ahead of a segment's end.
        self.assertRegex(text, r'vigil_log_segment_rolls_total\{app="%s",spare="none"\} [1-9]' % self.app["id"])
        self.assertIn('vigil_log_segment_rolls_total{app="%s",spare="ready"} ' % self.app["id"], text)
        # One batch does not saturate the raw log's writer: no ingest burst, nothing yielded.
        self.assertIn("\nvigil_ingest_saturated 0\n", text)
        self.assertIn("\nvigil_ingest_burst_yield_seconds_total 0.000\n", text)
        # The stages pause for ingest only after half a millisecond of work: a count, maybe 0 here.
        self.assertRegex(text, r"\nvigil_stage_ingest_pauses_total \d+\n")

    def request_histogram(self):
        """vigil_ingest_request_seconds as {le: cumulative count}, plus "count" and "sum"."""
        text = self.server.request("GET", "/metrics")[2].decode()
        out = {}
        for line in text.splitlines():
            if line.startswith("vigil_ingest_request_seconds_bucket{le="):
                out[line.split('"')[1]] = int(line.split()[-1])
            elif line.startswith("vigil_ingest_request_seconds_count "):
                out["count"] = int(line.split()[-1])
            elif line.startswith("vigil_ingest_request_seconds_sum "):
                out["sum"] = float(line.split()[-1])
        return out

    def test_every_events_request_is_timed_whatever_its_answer(self):
        before = self.request_histogram()
        self.assertEqual(self.server.post_events(self.key, batch("timed-1", [session("tm1")]))[0], 202)
        self.assertEqual(self.server.post_events("", batch("timed-2", [session("tm2")]))[0], 401)
        self.assertEqual(self.server.post_events(self.key, None, raw=b"{", encoding=None)[0], 400)
        # Observed when the server frees the request, just after writing the answer out.
        deadline = time.time() + 5
        after = self.request_histogram()
        while after["count"] < before["count"] + 3 and time.time() < deadline:
            time.sleep(0.05)
            after = self.request_histogram()
        self.assertEqual(after["count"], before["count"] + 3)
        self.assertEqual(after["+Inf"], after["count"])
        self.assertGreater(after["sum"], before["sum"])
        bounds = [k for k in after if k not in ("count", "sum", "+Inf")]
        self.assertEqual(bounds, sorted(bounds, key=float))  # cumulative buckets, in order
        self.assertEqual([after[b] for b in bounds], sorted(after[b] for b in bounds))

    def test_log_stats_counts_this_apps_records_and_events(self):
        app = self.server.create_app("stats")
        for i in range(3):
            self.server.post_events(app["ingest_key"], batch("st-%d" % i, [session("st-%d-a" % i),
                                                                         session("st-%d-b" % i)]))
        part = [p for p in self.server.log_stats()["partitions"] if p["app"] == app["id"]][0]
        self.assertEqual((part["records"], part["events"], part["end_offset"]), (3, 6, 3))
        self.assertGreater(part["bytes"], 0)

    def test_help_on_every_command(self):
        for args in (["--help"], ["serve", "--help"], ["log", "--help"], ["log", "stats", "--help"],
                     ["log", "dump", "--help"], ["symbols", "--help"],
                     ["symbols", "upload", "--help"], ["symbols", "convert", "--help"],
                     ["symbolicate", "--help"],
                     ["reprocess", "--help"], ["loadgen", "--help"], ["batch", "--help"],
                     ["batch", "run", "--help"], ["archive", "--help"]):
            out = subprocess.run([VIGIL] + args, capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, args)
            self.assertIn("usage: vigil", out.stdout)


class RestartTest(unittest.TestCase):
    def test_apps_and_events_survive_a_restart(self):
        s = Server().start()
        try:
            app = s.create_app("persist")
            self.assertEqual(s.post_events(app["ingest_key"], batch("p1", [session("p1e")]))[0], 202)
            s.stop()
            s.start()
            status, _, listing = s.admin("GET", "/v1/admin/apps")
            self.assertIn(app["id"], [a["id"] for a in listing["apps"]])
            # The dedup window survives too.
            status, _, body = s.post_events(app["ingest_key"], batch("p1", [session("p1e")]))
            self.assertTrue(body.get("duplicate"))
            self.assertEqual([e["id"] for e in s.log_dump(app["id"])], ["p1e"])
        finally:
            s.cleanup()

    def test_first_start_prints_demo_app_and_generates_admin_token(self):
        import tempfile
        d = tempfile.mkdtemp(prefix="vigil-first-")
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
        p = subprocess.Popen([VIGIL, "serve", "--data", d, "--listen", "127.0.0.1:0"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            lines = [p.stdout.readline() for _ in range(11)]
            text = "".join(lines)
            self.assertIn("admin token:", text)
            self.assertIn("ingest key:", text)
            self.assertIn("api token:", text)
            self.assertIn("curl -s http://127.0.0.1:", text)
            # The command it gives for managing apps works as printed.
            command = lines[10].split()
            self.assertEqual(command, ["vigil", "apps", "list", "--server", command[4], "--data",
                                       d])
            self.assertTrue(command[4].startswith("http://127.0.0.1:"), command)
            listed = subprocess.run([VIGIL] + command[1:] + ["--json"], capture_output=True,
                                    text=True, env=env, timeout=60)
            self.assertEqual(listed.returncode, 0, listed.stderr)
            self.assertEqual([a["name"] for a in json.loads(listed.stdout)["apps"]], ["demo"])
            mode = os.stat(os.path.join(d, "admin-token")).st_mode & 0o777
            self.assertEqual(mode, 0o600)
        finally:
            p.terminate()
            p.wait(timeout=30)
            subprocess.run(["rm", "-rf", d])


class BackgroundPriorityTest(unittest.TestCase):
    """The stages behind the log run nicer than the collector, so a burst of ingest keeps its CPU."""

    @staticmethod
    def thread_nices(pid):
        nices = {}
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
            name = stat[stat.index("(") + 1:stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2:].split()
            nices.setdefault(name, set()).add(int(fields[16]))  # field 19 of stat: nice
        return nices

    def check(self, env, expected_background):
        s = Server(env=env)
        if "VIGIL_BACKGROUND_NICE" not in env:
            s.env.pop("VIGIL_BACKGROUND_NICE", None)  # the harness sets 0; test the default
        s.start()
        try:
            base = os.getpriority(os.PRIO_PROCESS, 0)
            names = ("vigil-process", "vigil-archive", "vigil-speed", "vigil-groups", "vigil-batch")
            # Both logs' writers keep the process's priority: an fdatasync at background priority
            # holds up the other log's (log/local_log.h).
            foreground = ("vigil-http", "vigil-log-raw", "vigil-log-proce")
            # Each thread names itself and lowers its priority as it starts: wait for the last.
            deadline = time.time() + 30
            while True:
                nices = self.thread_nices(s.proc.pid)
                done = all(nices.get(n) == {min(19, base + expected_background)} for n in names)
                done = done and all(n in nices for n in foreground)
                if done or time.time() > deadline:
                    break
                time.sleep(0.05)
            for name in foreground:
                self.assertEqual(nices.get(name), {base}, name)
            for name in names:
                self.assertEqual(nices.get(name), {min(19, base + expected_background)}, name)
        finally:
            s.cleanup()

    def test_default_is_nineteen(self):
        self.check({}, 19)

    def test_configured_and_zero(self):
        self.check({"VIGIL_BACKGROUND_NICE": "3"}, 3)
        self.check({"VIGIL_BACKGROUND_NICE": "0"}, 0)

    def assert_refused(self, variable, value, message):
        """`vigil serve` with `variable`=`value` exits 2 naming the fix, before touching --data."""
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0", **{variable: value})
        p = subprocess.run([VIGIL, "serve", "--data", "/nonexistent/never-created",
                            "--listen", "127.0.0.1:0"], capture_output=True, text=True, env=env,
                           timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertIn(message, p.stderr)

    def test_out_of_range_stops_the_server_with_the_fix(self):
        self.assert_refused("VIGIL_BACKGROUND_NICE", "25", "background_nice must be 0-19")

    def test_burst_yield_out_of_range_stops_the_server_with_the_fix(self):
        self.assert_refused("VIGIL_BURST_YIELD_SECONDS", "-1", "burst_yield_seconds must be 0-3600")
        self.assert_refused("VIGIL_BURST_YIELD_SECONDS", "3601", "burst_yield_seconds must be 0-3600")

    def test_a_setting_outside_its_range_stops_the_server_naming_range_and_variable(self):
        self.assert_refused("VIGIL_SEGMENT_BYTES", "0",
                            "vigil serve: segment_bytes must be 65536-68719476736 (the size at "
                            "which a log segment rolls), not 0: fix it in the config file or "
                            "VIGIL_SEGMENT_BYTES")
        self.assert_refused("VIGIL_RETENTION_HOURS", "-1", "retention_hours must be 0-87600")

if __name__ == "__main__":
    unittest.main(verbosity=2)

"""`vigil apps`: the admin API from the command line, against the real server over HTTP.

Each subcommand's effect is checked through the server itself (its answers to ingest and to the
admin API), not through the command's own output alone.
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from vigil_harness import ADMIN_TOKEN, VIGIL, Server, ServerTestCase, batch, session  # noqa: E402


class AppsCliTest(ServerTestCase):
    @classmethod
    def set_up_server(cls):
        cls.url = "http://127.0.0.1:%d" % cls.server.port

    def apps(self, *args, token=ADMIN_TOKEN, stdin=None):
        cmd = [VIGIL, "apps"] + list(args) + ["--server", self.url]
        if token is not None:
            cmd += ["--admin-token", token]
        env = dict(os.environ)
        env.pop("VIGIL_ADMIN_TOKEN", None)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, input=stdin,
                              env=env)

    def ok(self, *args, **kw):
        out = self.apps(*args, **kw)
        self.assertEqual(out.returncode, 0, out.stderr)
        return json.loads(out.stdout)

    def test_create_list_show_disable_enable(self):
        app = self.ok("create", "cli shop")
        self.assertEqual(app["name"], "cli shop")
        self.assertTrue(app["api_token"].startswith("vat_"))
        table = self.apps("list")
        self.assertEqual(table.returncode, 0, table.stderr)
        lines = table.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["ID", "NAME", "STATE", "INGEST", "KEY", "QUOTA",
                                            "RULES", "PREV", "KEYS"])
        [row] = [l for l in lines if l.startswith(app["id"])]
        self.assertIn("cli shop", row)
        self.assertIn(app["ingest_key"], row)
        self.assertEqual(row.split()[-5:], ["enabled", app["ingest_key"], "-", "0", "0"], row)
        listed = json.loads(self.apps("list", "--json").stdout)
        self.assertIn(app["id"], [a["id"] for a in listed["apps"]])
        self.assertEqual(self.ok("show", app["id"])["ingest_key"], app["ingest_key"])

        self.assertTrue(self.ok("disable", app["id"])["disabled"])
        self.assertEqual(self.server.post_events(app["ingest_key"],
                                                 batch("d", [session("d")]))[0], 403)
        self.assertFalse(self.ok("enable", app["id"])["disabled"])
        self.assertEqual(self.server.post_events(app["ingest_key"],
                                                 batch("e", [session("e")]))[0], 202)

    def test_quota_and_rules(self):
        app = self.ok("create", "limited")
        shown = self.ok("quota", app["id"], "100", "500")
        self.assertEqual(shown["quota"], {"events_per_second": 100, "burst_events": 500})
        row = [l for l in self.apps("list").stdout.splitlines() if l.startswith(app["id"])][0]
        self.assertIn("100/s, burst 500", row)
        self.assertEqual(self.ok("quota", app["id"], "0")["quota"], {"events_per_second": None})
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump({"drop": [{"app_version": "*-debug"}]}, f)
        self.addCleanup(os.unlink, f.name)
        self.assertEqual(self.ok("rules", app["id"], f.name)["drop_rules"],
                         {"drop": [{"app_version": "*-debug"}]})
        debug = batch("dbg", [session("dbg")])
        debug["app"]["version"] = "2.0-debug"
        status, _, body = self.server.post_events(app["ingest_key"], debug)
        self.assertEqual((status, body["accepted"], body["filtered"]), (202, 0, 1))
        # From stdin, and refused rules are the server's words.
        self.assertEqual(self.ok("rules", app["id"], "-", stdin='{"drop": []}')["drop_rules"],
                         {"drop": []})
        bad = self.apps("rules", app["id"], "-", stdin='{"drop": [{"colour": "red"}]}')
        self.assertEqual(bad.returncode, 1)
        self.assertTrue(bad.stderr.startswith("vigil apps rules: HTTP 400 {\"error\":"), bad.stderr)
        bad = self.apps("quota", app["id"], "lots")
        self.assertEqual(bad.returncode, 2)
        self.assertEqual(bad.stderr,
                         "vigil apps quota: quota: N and BURST are whole numbers, got 'lots'\n")

    def test_token_and_key_rotation(self):
        app = self.ok("create", "rotating")
        rotated = self.ok("api-token", app["id"])
        self.assertNotEqual(rotated["api_token"], app["api_token"])
        old = {"Authorization": "Bearer " + app["api_token"]}
        self.assertEqual(self.server.json_request("GET", "/v1/app", None, old)[0], 401)
        keyed = self.ok("ingest-key", app["id"])
        self.assertEqual(keyed["previous_ingest_keys"][0]["key"], app["ingest_key"])
        self.assertEqual(self.server.post_events(app["ingest_key"],
                                                 batch("o", [session("o")]))[0], 202)
        revoked = self.ok("revoke-ingest-key", app["id"], app["ingest_key"])
        self.assertEqual(revoked["previous_ingest_keys"], [])
        self.assertEqual(self.server.post_events(app["ingest_key"],
                                                 batch("p", [session("p")]))[0], 401)
        self.assertEqual(self.server.post_events(keyed["ingest_key"],
                                                 batch("q", [session("q")]))[0], 202)

    def test_the_admin_token_from_the_data_directory(self):
        with tempfile.TemporaryDirectory() as data:
            server = Server(data_dir=data, extra_args=["--admin-token", ""]).start()
            try:
                # No token given: the server generated one into <data>/admin-token.
                cmd = [VIGIL, "apps", "list", "--json", "--server",
                       "http://127.0.0.1:%d" % server.port, "--data", data]
                env = dict(os.environ)
                env.pop("VIGIL_ADMIN_TOKEN", None)  # --data must be where the token comes from
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
                self.assertEqual(out.returncode, 0, out.stderr)
                self.assertEqual([a["name"] for a in json.loads(out.stdout)["apps"]], ["demo"])
            finally:
                server.stop()

    def test_usage_errors(self):
        for args, code, text in (
                (["nope"], 2, "vigil apps: unknown subcommand 'nope' (see --help)\n"),
                (["show"], 2, "vigil apps show: wrong number of arguments (see --help)\n"),
                (["show", "app_nope"], 1,
                 "vigil apps show: HTTP 404 {\"error\":\"no app with id 'app_nope'\"}\n")):
            out = self.apps(*args)
            self.assertEqual((out.returncode, out.stderr), (code, text), args)
        out = self.apps("list", token=None)
        self.assertEqual(out.returncode, 2)
        self.assertIn("the admin token (--admin-token, VIGIL_ADMIN_TOKEN or --data) are required",
                      out.stderr)
        out = self.apps("list", token="wrong")
        self.assertEqual(out.returncode, 1)
        self.assertIn("HTTP 401", out.stderr)
        out = subprocess.run([VIGIL, "apps", "--help"], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0)
        for sub in ("list", "create NAME", "quota ID N [BURST]", "revoke-ingest-key ID KEY"):
            self.assertIn(sub, out.stdout)


if __name__ == "__main__":
    unittest.main()

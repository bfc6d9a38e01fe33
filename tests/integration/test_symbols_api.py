"""The symbol upload API and `vigil symbols upload`, against the real server over HTTP.

Expected ids are computed here from the files themselves (the MODULE line, readelf's build-id with
the rule of docs/symbols.md, the mapping's pg_map_id), never read from the code under test.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from vigil_harness import VIGIL, Server  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures")


def fixture(rel):
    with open(os.path.join(FIXTURES, rel), "rb") as f:
        return f.read()


def elf_debug_id(build_id_hex):
    b = bytes.fromhex(build_id_hex)[:16].ljust(16, b"\0")
    g = b[3::-1] + b[5:3:-1] + b[7:5:-1] + b[8:]
    h = g.hex()
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


class SymbolsApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="vigil-symapi-")
        cls.server = None
        try:  # tearDownClass does not run when this fails: nothing must outlive it
            cls.server = Server().start()
            cls.app = cls.server.create_app("symbols-test")
            cls.other = cls.server.create_app("other-app")
            cls.auth = {"Authorization": "Bearer " + cls.app["api_token"]}
            # A small ELF with a build-id, built here.
            src = os.path.join(cls.tmp, "lib.cc")
            with open(src, "w") as f:
                f.write("static int helper(int x) { return x * 7; }\n"
                        "int exported(int x) { return helper(x) + 1; }\n")
            cls.elf = os.path.join(cls.tmp, "libsample.so")
            subprocess.run(["g++", "-O2", "-g", "-shared", "-fPIC", "-Wl,--build-id", "-o",
                            cls.elf, src], check=True)
            notes = subprocess.run(["readelf", "-n", cls.elf], check=True, capture_output=True,
                                   text=True).stdout
            cls.build_id = notes.split("Build ID:")[1].split()[0]
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.server is not None:
            cls.server.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def upload(self, body, name=None, auth=None, app=None):
        path = "/v1/apps/%s/symbols" % (app or self.app["id"])
        if name:
            path += "?name=" + name
        return self.server.json_request("POST", path, body, auth or self.auth)

    def test_breakpad_upload_list_delete(self):
        data = fixture("breakpad/linux_inline.new.sym")
        status, _, body = self.upload(data)
        self.assertEqual(status, 201, body)
        functions = sum(1 for line in data.decode().splitlines()
                        if line.startswith("FUNC ") or line.startswith("PUBLIC "))
        self.assertEqual(body["kind"], "breakpad")
        self.assertEqual(body["debug_id"], "bba6fa10-b8aa-b33d-0000-000000000000")
        self.assertEqual(body["code_id"], "10faa6bbaab83db3")
        self.assertEqual(body["arch"], "x86_64")
        self.assertEqual(body["name"], "linux_inline")
        self.assertEqual(body["functions"], functions)
        self.assertEqual(body["bytes"], len(data))
        status, _, listed = self.server.json_request("GET", "/v1/apps/%s/symbols" % self.app["id"],
                                                     None, self.auth)
        self.assertEqual(status, 200)
        self.assertIn(body["id"], [s["id"] for s in listed["symbols"]])
        path = "/v1/apps/%s/symbols/%s" % (self.app["id"], body["id"])
        status, _, gone = self.server.json_request("DELETE", path, None, self.auth)
        self.assertEqual((status, gone), (200, {"deleted": body["id"]}))
        status, _, again = self.server.json_request("DELETE", path, None, self.auth)
        self.assertEqual(status, 404)
        self.assertIn("no symbol file with id", again["error"])

    def test_elf_upload_derives_the_debug_id_from_the_build_id(self):
        with open(self.elf, "rb") as f:
            data = f.read()
        status, _, body = self.upload(data, name="libsample.so")
        self.assertEqual(status, 201, body)
        self.assertEqual(body["kind"], "elf")
        self.assertEqual(body["code_id"], self.build_id)
        self.assertEqual(body["debug_id"], elf_debug_id(self.build_id))
        self.assertEqual(body["name"], "libsample.so")
        self.assertEqual(body["arch"], "x86_64")
        self.assertGreaterEqual(body["functions"], 1)

    def test_proguard_upload(self):
        data = fixture("proguard/mapping-r8-symbolicated_file_names.txt")
        pg_map_id = [line.split(":", 1)[1].strip() for line in data.decode().splitlines()
                     if line.startswith("# pg_map_id:")][0]
        status, _, body = self.upload(data, name="mapping.txt")
        self.assertEqual(status, 201, body)
        self.assertEqual(body["kind"], "proguard")
        self.assertEqual(body["mapping_id"], pg_map_id)
        self.assertEqual(body["id"], pg_map_id)

    def test_errors(self):
        app = self.app["id"]
        cases = [
            ({}, b"MODULE x", 401, "missing API token"),
            ({"Authorization": "Bearer nope"}, b"MODULE x", 401, "unknown API token"),
            ({"Authorization": "Bearer " + self.other["api_token"]}, b"MODULE x", 403,
             "belongs to app " + self.other["id"]),
            (self.auth, b"", 400, "empty body"),
            (self.auth, b"hello world\n", 400, "unknown symbol file format"),
            (self.auth, b"\x7fELF" + b"\0" * 100, 400, "not a readable object file"),
            (self.auth, b"MODULE Linux x86_64 33221100554477668899AABBCCDDEEFF0 a\nFUNC zz 1 0 f\n",
             400, "Breakpad .sym line 2"),
        ]
        for headers, body, status, text in cases:
            got, _, answer = self.server.json_request("POST", "/v1/apps/%s/symbols" % app, body,
                                                      headers)
            self.assertEqual(got, status, (body[:20], answer))
            self.assertIn(text, answer["error"])
        # Truncated ELF: cut the test library in half.
        with open(self.elf, "rb") as f:
            half = f.read()[:3000]
        got, _, answer = self.upload(half)
        self.assertEqual(got, 400, answer)
        got, _, answer = self.server.json_request("PUT", "/v1/apps/%s/symbols" % app, b"x",
                                                  self.auth)
        self.assertEqual(got, 405)

    def test_object_file_that_crashes_llvm_is_refused_and_the_server_lives(self):
        # Fuzzing found this ELF; LLVM 14's DWARF reader crashes on it. The server converts
        # object files in a child process, so the upload fails alone.
        source = os.environ.get("VIGIL_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
        with open(os.path.join(source, "tests/fuzz/known_crashes/object_file-llvm-dwarf-dumpaddress"),
                  "rb") as f:
            crashing = f.read()
        got, _, answer = self.upload(crashing, name="libcrash.so")
        self.assertEqual(got, 400, answer)
        self.assertIn("crashed the symbol converter", answer["error"])
        self.assertIn("dump_syms", answer["error"])
        # Still serving: a good file goes through, and nothing of the bad one was stored.
        with open(self.elf, "rb") as f:
            status, _, body = self.upload(f.read(), name="libsample.so")
        self.assertEqual(status, 201, body)
        status, _, listed = self.server.json_request("GET", "/v1/apps/%s/symbols" % self.app["id"],
                                                     None, self.auth)
        self.assertEqual(status, 200)
        self.assertNotIn("libcrash.so", [s["name"] for s in listed["symbols"]])
        self.assertEqual(os.listdir(os.path.join(self.server.data_dir, "symbols", ".convert")), [])

    def test_symbols_convert_command(self):
        out = os.path.join(self.tmp, "converted")
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
        run = subprocess.run([VIGIL, "symbols", "convert", "--out", out, self.elf],
                             capture_output=True, text=True, env=env)
        self.assertEqual(run.returncode, 0, run.stderr)
        line = json.loads(run.stdout)
        debug_id = elf_debug_id(self.build_id)
        self.assertEqual(line["debug_id"], debug_id)
        self.assertEqual(line["code_id"], self.build_id)
        self.assertEqual(line["arch"], "x86_64")
        self.assertEqual(line["file"], os.path.join(out, debug_id + ".symcache"))
        self.assertEqual(os.path.getsize(line["file"]), line["bytes"])
        # The symcache answers like the ELF it came from, at the address nm gives `exported`.
        nm = subprocess.run(["nm", "-C", self.elf], check=True, capture_output=True,
                            text=True).stdout
        addr = [ln.split()[0] for ln in nm.splitlines() if ln.endswith(" exported(int)")][0]
        a = subprocess.run([VIGIL, "symbolicate", "--symbols", line["file"], addr],
                           capture_output=True, text=True, env=env)
        b = subprocess.run([VIGIL, "symbolicate", "--symbols", self.elf, addr],
                           capture_output=True, text=True, env=env)
        self.assertEqual(a.returncode, 0, a.stderr)
        self.assertIn("exported(int)\n", a.stdout)
        self.assertEqual(a.stdout, b.stdout)
        bad = subprocess.run([VIGIL, "symbols", "convert", "--out", out,
                              os.path.join(FIXTURES, "PROVENANCE.md")],
                             capture_output=True, text=True, env=env)
        self.assertEqual(bad.returncode, 4)
        self.assertIn("unknown symbol file format", bad.stderr)

    def test_survives_restart_and_cli_upload(self):
        data_dir = tempfile.mkdtemp(prefix="vigil-symapi-restart-")
        server = Server(data_dir=data_dir).start()
        try:
            app = server.create_app("restart")
            url = "http://127.0.0.1:%d" % server.port
            env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
            run = subprocess.run([VIGIL, "symbols", "upload", "--server", url, "--token",
                                  app["api_token"], os.path.join(FIXTURES, "breakpad/macos_crash.sym"),
                                  self.elf], capture_output=True, text=True, env=env)
            self.assertEqual(run.returncode, 0, run.stderr)
            lines = [json.loads(line) for line in run.stdout.splitlines()]
            self.assertEqual([x["kind"] for x in lines], ["breakpad", "elf"])
            self.assertEqual(lines[0]["debug_id"], "67e9247c-814e-392b-a027-dbde6748fcbf")
            bad = subprocess.run([VIGIL, "symbols", "upload", "--server", url, "--token",
                                  app["api_token"], os.path.join(FIXTURES, "PROVENANCE.md")],
                                 capture_output=True, text=True, env=env)
            self.assertEqual(bad.returncode, 1)
            self.assertIn("unknown symbol file format", bad.stderr)
            server.stop()
            server.start()
            status, _, listed = server.json_request(
                "GET", "/v1/apps/%s/symbols" % app["id"], None,
                {"Authorization": "Bearer " + app["api_token"]})
            self.assertEqual(status, 200)
            self.assertEqual(sorted(s["id"] for s in listed["symbols"]),
                             sorted(x["id"] for x in lines))
        finally:
            server.stop()
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()

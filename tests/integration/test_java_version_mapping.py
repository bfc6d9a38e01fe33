"""Java crashes that name no mapping_id are retraced with the mapping uploaded for their app version.

Expected names come from the fixture's own expected retrace output (mapping-inlines.expected.txt),
the obfuscated ones from its input; nothing is read from the code under test.
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from vigil_harness import Server, batch  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "proguard")


def read(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


def first_frame(trace):
    """The exception type and the function ("class.method") of the first frame of a trace."""
    lines = trace.decode().splitlines()
    exception_type = lines[0].split(":", 1)[0]
    frame = next(line.strip()[3:] for line in lines if line.strip().startswith("at "))
    return exception_type, frame.split("(", 1)[0]


class JavaVersionMappingTest(unittest.TestCase):
    def setUp(self):
        self.server = Server().start()
        self.app = self.server.create_app("java-version")
        self.auth = {"Authorization": "Bearer " + self.app["api_token"]}

    def tearDown(self):
        self.server.cleanup()

    def post_crash(self, event_id, version):
        payload = batch("b-" + event_id, [{
            "id": event_id, "type": "crash", "ts": int(time.time() * 1000),
            "error": {"format": "java", "text": read("mapping-inlines.input.txt").decode()}}],
            app={"version": version})
        status, _, body = self.server.post_events(self.app["ingest_key"], payload)
        self.assertEqual((status, body["accepted"]), (202, 1), body)

    def groups(self, count):
        deadline = time.time() + 30
        while True:
            status, _, body = self.server.json_request(
                "GET", "/v1/apps/%s/crash-groups" % self.app["id"], headers=self.auth)
            self.assertEqual(status, 200, body)
            if sum(g["events"] for g in body["groups"]) >= count or time.time() > deadline:
                return {g["title"]: g for g in body["groups"]}
            time.sleep(0.1)

    def test_version_mapping_retraces_crashes_without_mapping_id(self):
        exception_type, obfuscated = first_frame(read("mapping-inlines.input.txt"))
        _, retraced = first_frame(read("mapping-inlines.expected.txt"))
        # Before any mapping: the names as sent; not a sentinel (nothing says one is missing).
        self.post_crash("e1", "5.0")
        groups = self.groups(1)
        self.assertEqual(list(groups), ["%s: %s" % (exception_type, obfuscated)])
        self.assertFalse(groups["%s: %s" % (exception_type, obfuscated)]["sentinel"])

        status, _, stored = self.server.json_request(
            "POST", "/v1/apps/%s/symbols?version=5.0" % self.app["id"],
            read("mapping-inlines.txt"), self.auth)
        self.assertEqual(status, 201, stored)
        self.assertEqual((stored["kind"], stored["version"]), ("proguard", "5.0"))

        self.post_crash("e2", "5.0")  # retraced with the version's mapping
        self.post_crash("e3", "6.0")  # another version: no mapping
        groups = self.groups(3)
        title = "%s: %s" % (exception_type, retraced)
        self.assertIn(title, groups)
        self.assertEqual(groups[title]["versions"], {"5.0": {"crashes": 1, "handled": 0}})
        self.assertFalse(groups[title]["sentinel"])
        self.assertEqual(groups["%s: %s" % (exception_type, obfuscated)]["crashes"], 2)


if __name__ == "__main__":
    unittest.main()

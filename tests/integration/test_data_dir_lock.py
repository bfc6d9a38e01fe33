"""One vigil serve per data directory. A second one on the same directory must stop before it
opens anything there (it used to recover the logs under the first one's feet, which can cut
acknowledged records), and say which process holds the directory. The lock dies with its holder:
after kill -9 a new server starts on the same directory, with everything acknowledged.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from vigil_harness import Server, batch, session  # noqa: E402


class DataDirLockTest(unittest.TestCase):
    def test_a_second_server_on_the_same_directory_is_refused_and_the_first_goes_on(self):
        first = Server().start()
        self.addCleanup(first.cleanup)
        app = first.create_app("lock-app")
        status, _, body = first.post_events(app["ingest_key"], batch("b1", [session("e1")]))
        self.assertEqual(status, 202, body)

        second = Server(data_dir=first.data_dir)
        self.addCleanup(second.cleanup)
        with self.assertRaises(RuntimeError) as refused:
            second.start()
        self.assertIn("vigil serve: another vigil serve (pid %d) is using the data directory %s: "
                      "stop it first, or give this one another --data"
                      % (first.proc.pid, first.data_dir), str(refused.exception))
        self.assertNotIn("recovering the log", str(refused.exception))  # it opened nothing
        self.assertEqual(second.proc.wait(timeout=10), 1)

        status, _, body = first.post_events(app["ingest_key"], batch("b2", [session("e2")]))
        self.assertEqual(status, 202, body)
        self.assertEqual(sorted(e["id"] for e in first.log_dump(app["id"])), ["e1", "e2"])

        first.kill9()
        third = Server(data_dir=first.data_dir).start()
        self.addCleanup(third.cleanup)
        self.assertEqual(sorted(e["id"] for e in third.log_dump(app["id"])), ["e1", "e2"])
        status, _, body = third.post_events(app["ingest_key"], batch("b3", [session("e3")]))
        self.assertEqual(status, 202, body)


if __name__ == "__main__":
    unittest.main()

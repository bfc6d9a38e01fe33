"""`vigil symbolicate` against llvm-symbolizer on a program compiled here with -O2 -g.

The oracle is `llvm-symbolizer --no-demangle --output-style=GNU -f -i -a` with names piped through
c++filt (binutils addr2line names inlined static functions after their callers). Thousands of
addresses inside the program's functions, picked from `nm -S`; every frame of every address
(function, file:line, discriminator, inline chain) must agree. Addresses print in addr2line's
padded form, so only the address lines are normalized before comparing.
"""
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from vigil_harness import VIGIL  # noqa: E402

SOURCE = os.path.join(os.path.dirname(__file__), "programs", "symbolicate_sample.cc")
SYMBOLIZER = shutil.which("llvm-symbolizer-14") or shutil.which("llvm-symbolizer")
ADDRESSES = 4000


def function_addresses(binary, count, seed):
    out = subprocess.run(["nm", "--defined-only", "-S", binary], check=True,
                         capture_output=True, text=True).stdout
    functions = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tTwW" and int(parts[1], 16) > 0:
            functions.append((int(parts[0], 16), int(parts[1], 16)))
    rng = random.Random(seed)
    picks = []
    # Every function's first byte and last byte, then random bytes inside random functions.
    for start, size in functions:
        picks += [start, start + size - 1]
    while len(picks) < count:
        start, size = rng.choice(functions)
        picks.append(start + rng.randrange(size))
    return picks[:max(count, len(picks))]


def normalize(text):
    return re.sub(r"^0x0*([0-9a-f])", r"0x\1", text, flags=re.M)


def oracle(binary, addresses):
    stdin = "".join("0x%x\n" % a for a in addresses)
    raw = subprocess.run([SYMBOLIZER, "--no-demangle", "--output-style=GNU", "-f", "-i", "-a",
                          "--obj=" + binary], input=stdin, check=True, capture_output=True,
                         text=True).stdout
    return subprocess.run(["c++filt"], input=raw, check=True, capture_output=True, text=True).stdout


def vigil(symbols, addresses):
    stdin = "".join("%x\n" % a for a in addresses)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    run = subprocess.run([VIGIL, "symbolicate", "--symbols", symbols], input=stdin,
                         capture_output=True, text=True, env=env)
    if run.returncode != 0:
        raise AssertionError("vigil symbolicate failed: " + run.stderr)
    return run.stdout


@unittest.skipUnless(SYMBOLIZER and shutil.which("g++") and shutil.which("c++filt"),
                     "needs g++, llvm-symbolizer (llvm-14) and c++filt")
class SymbolicateAgainstLlvmSymbolizer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="vigil-sym-")
        cls.binary = os.path.join(cls.dir, "sample")
        subprocess.run(["g++", "-std=c++17", "-O2", "-g", "-o", cls.binary, SOURCE], check=True)
        cls.addresses = function_addresses(cls.binary, ADDRESSES, seed=1)
        cls.expected = oracle(cls.binary, cls.addresses)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def assert_same(self, ours, theirs):
        ours, theirs = normalize(ours).splitlines(), theirs.splitlines()
        self.assertEqual(len(ours), len(theirs), "different number of output lines")
        mismatches = [(i, a, b) for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]
        self.assertEqual(mismatches[:5], [], "%d of %d lines differ" % (len(mismatches), len(ours)))

    def test_every_frame_matches(self):
        ours = vigil(self.binary, self.addresses)
        self.assert_same(ours, self.expected)
        # The test means something: deep inline chains were compared.
        frames_per_address = (len(self.expected.splitlines()) - len(self.addresses)) / 2
        self.assertGreater(frames_per_address / len(self.addresses), 1.5)
        lines = ours.splitlines()
        self.assertIn("Mix", lines)  # the static helper, inlined into lambdas and methods
        self.assertTrue(any(line.endswith("symbolicate_sample.cc:15") for line in lines))

    def test_compressed_debug_sections(self):
        z = os.path.join(self.dir, "sample.z")
        subprocess.run(["objcopy", "--compress-debug-sections=zlib", self.binary, z], check=True)
        self.assert_same(vigil(z, self.addresses), self.expected)

    def test_split_debug_file(self):
        debug = os.path.join(self.dir, "sample.debug")
        subprocess.run(["objcopy", "--only-keep-debug", self.binary, debug], check=True)
        self.assert_same(vigil(debug, self.addresses), self.expected)

    def test_addresses_from_arguments_and_unknown_ones(self):
        run = subprocess.run([VIGIL, "symbolicate", "--symbols", self.binary, "0x0", "ffffff0"],
                             capture_output=True, text=True,
                             env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout, "0x0000000000000000\n??\n??:0\n0x000000000ffffff0\n??\n??:0\n")

    def test_bad_input_is_a_clear_error(self):
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
        junk = os.path.join(self.dir, "junk.bin")
        with open(junk, "wb") as f:
            f.write(b"\x7fELF" + os.urandom(300))
        run = subprocess.run([VIGIL, "symbolicate", "--symbols", junk, "10"], capture_output=True,
                             text=True, env=env)
        self.assertEqual(run.returncode, 1)
        self.assertIn("not a readable object file", run.stderr)
        run = subprocess.run([VIGIL, "symbolicate", "--symbols", self.binary, "zz"],
                             capture_output=True, text=True, env=env)
        self.assertEqual(run.returncode, 1)
        self.assertIn("'zz' is not a hex address", run.stderr)
        run = subprocess.run([VIGIL, "symbolicate"], capture_output=True, text=True, env=env)
        self.assertEqual(run.returncode, 2)
        self.assertIn("--symbols FILE is required", run.stderr)


if __name__ == "__main__":
    unittest.main()

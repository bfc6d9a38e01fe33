"""Crash processing end to end: raw log -> symbolication / retrace -> crash groups, over real HTTP.

One `vigil serve` (restarted on the same data directory) is driven through the life of an app's
crashes:

  A. one batch of version 3.1.0 holds a crash in each wire form of docs/protocol.md (`native`
     threads and images, an Apple `.crash` text, a Java trace with a ProGuard mapping id, an
     Android tombstone), a Java handled_exception and a minimal `{"type","reason"}` crash; a
     second batch of 3.0.9 repeats the native and the minimal crash. No symbol is stored yet, so
     each stack crash lands in the sentinel group of (version, type), naming the file it misses.
  B. the four symbol files are uploaded (the Breakpad fixture, a `.sym` written here for the Apple
     report, the ProGuard fixture, an ELF compiled here): every crash is reprocessed by itself and
     moves to its real group.
  C. a clean restart on the same data keeps every group and count.
  D. version 3.2.0 brings two crashes of images whose symbols are not stored: POST /reprocess
     queues them (and only them) without counting anything twice; uploading one image's symbols
     moves one crash out; the other stays in its sentinel group.
  E. a kill -9 and restart keep everything again.

Every expected value is computed here from the inputs: Breakpad records are resolved by a small
resolver below (FUNC, line and INLINE records, caller frames at address - 1), the ELF's frames by
llvm-symbolizer (the oracle of test_symbolicate.py), the Java frames by a small retrace of the
mapping (checked against the fixture's .expected.txt), the debug ids from the MODULE line, the code
id from readelf, the mapping id from its `# pg_map_id:` header. Titles and culprits follow the
documented grouping rule (src/process/grouping.h): type + the first named in-app frame, compiler
clone suffixes removed. Nothing is read from the code under test.

Group ids are opaque hashes: they are checked for form, stability and sameness, not value.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from vigil_harness import VIGIL, Server, batch  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures")
SYMBOLIZER = shutil.which("llvm-symbolizer-14") or shutil.which("llvm-symbolizer")
DEADLINE_S = 30

VERSION = "3.1.0"
OLD_VERSION = "3.0.9+hotfix 1"  # queried URL-encoded
NEXT_VERSION = "3.2.0"



def without_range(answer):
    """An answer without its from/to: they default to the 30 days that end now, so they move."""
    return {k: v for k, v in answer.items() if k not in ("from", "to")}

def fixture(rel):
    with open(os.path.join(FIXTURES, rel), encoding="utf-8") as f:
        return f.read()


def wait_for_binary():
    # The binary may be rebuilt under us; it comes back within a minute or two.
    deadline = time.time() + 180
    while not os.access(VIGIL, os.X_OK):
        if time.time() > deadline:
            raise RuntimeError("no vigil binary at " + VIGIL)
        time.sleep(2)


# ---------------------------------------------------------------------------------------------
# Independent oracles
# ---------------------------------------------------------------------------------------------

def dashed(hex32):
    h = hex32.lower()
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:32])


def breakpad_debug_id(sym_text):
    """The MODULE line's id: 32 hex digits of GUID, then the age in hex (docs/symbols.md)."""
    ident = sym_text.splitlines()[0].split()[3]
    age = int(ident[32:] or "0", 16)
    return dashed(ident[:32]) + ("-%x" % age if age else "")


def clean_path(path):
    parts = []
    for p in path.split("/"):
        if p == "..":
            if parts and parts[-1] not in ("", ".."):
                parts.pop()
                continue
        elif p == "." or (p == "" and parts):
            continue
        parts.append(p)
    return "/".join(parts)


class Breakpad:
    """FUNC / line / INLINE lookup, as the Breakpad format defines it."""

    def __init__(self, text):
        self.files, self.origins, self.funcs = {}, {}, []
        for line in text.splitlines():
            if line.startswith("FILE "):
                _, n, name = line.split(" ", 2)
                self.files[int(n)] = clean_path(name)
            elif line.startswith("INLINE_ORIGIN "):
                _, n, name = line.split(" ", 2)
                self.origins[int(n)] = name
            elif line.startswith("FUNC "):
                rest = line[5:]
                if rest.startswith("m "):
                    rest = rest[2:]
                addr, size, _param, name = rest.split(" ", 3)
                self.funcs.append({"start": int(addr, 16), "size": int(size, 16), "name": name,
                                   "lines": [], "inlines": []})
            elif line.startswith("INLINE "):
                f = [int(x) for x in line.split()[1:5]]
                hexes = [int(x, 16) for x in line.split()[5:]]
                self.funcs[-1]["inlines"].append({
                    "depth": f[0], "call_line": f[1], "call_file": f[2], "origin": f[3],
                    "ranges": list(zip(hexes[0::2], hexes[1::2]))})
            elif line.split(" ", 1)[0] in ("MODULE", "INFO", "PUBLIC", "STACK"):
                continue
            elif line.strip() and self.funcs:
                addr, size, lineno, filenum = line.split()
                self.funcs[-1]["lines"].append((int(addr, 16), int(size, 16), int(lineno),
                                                int(filenum)))

    def lookup(self, addr):
        """[(function, file, line)] innermost first; [] when no FUNC covers addr."""
        func = next((f for f in self.funcs if f["start"] <= addr < f["start"] + f["size"]), None)
        if func is None:
            return []
        file, line = "", 0
        for start, size, lineno, filenum in func["lines"]:
            if start <= addr < start + size:
                file, line = self.files[filenum], lineno
        chain = sorted((i for i in func["inlines"]
                        if any(s <= addr < s + n for s, n in i["ranges"])),
                       key=lambda i: i["depth"])
        names = [func["name"]] + [self.origins[i["origin"]] for i in chain]
        frames = [(names[-1], file, line)]
        for d in reversed(range(len(chain))):
            frames.append((names[d], self.files[chain[d]["call_file"]], chain[d]["call_line"]))
        return frames


def frame(function="", file="", line=0, module="", address=0, in_app=False, inlined=False,
          symbolicated=False):
    return {"function": function, "file": file, "line": line, "module": module,
            "address": address, "in_app": in_app, "inlined": inlined,
            "symbolicated": symbolicated}


def expand(resolved, **common):
    """Resolved (function, file, line) chain -> processed frames; all but the last inlined."""
    return [frame(fn, fl, ln, inlined=k + 1 < len(resolved), symbolicated=True, **common)
            for k, (fn, fl, ln) in enumerate(resolved)]


def normalize_function(name):
    """grouping.h: compiler clone suffixes and Java lambda counters do not split groups."""
    name = re.sub(r" \[clone [^\]]*\]", "", name)
    if "(" not in name:
        for suffix in (".cold", ".part.", ".isra.", ".constprop.", ".lto_priv."):
            at = name.find(suffix)
            if at > 0:
                name = name[:at]
    return re.sub(r"\$\d+$", "$", name)


def title_and_culprit(exc_type, frames):
    named_in_app = [f for f in frames if f["in_app"] and f["function"]]
    if not named_in_app:
        return exc_type, ""
    top = named_in_app[0]
    fn = normalize_function(top["function"])
    return exc_type + ": " + fn, fn + (" (%s)" % top["file"] if top["file"] else "")


def llvm_symbolize(binary, addresses):
    """{address: [(function, file, line)]} from llvm-symbolizer piped through c++filt."""
    stdin = "".join("0x%x\n" % a for a in addresses)
    raw = subprocess.run([SYMBOLIZER, "--no-demangle", "--output-style=GNU", "-f", "-i", "-a",
                          "--obj=" + binary], input=stdin, check=True, capture_output=True,
                         text=True).stdout
    text = subprocess.run(["c++filt"], input=raw, check=True, capture_output=True,
                          text=True).stdout
    out, current = {}, None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("0x"):
            current = int(lines[i], 16)
            out[current] = []
            i += 1
            continue
        function, location = lines[i], lines[i + 1]
        location = re.sub(r" \(discriminator \d+\)$", "", location)
        file, _, line = location.rpartition(":")
        out[current].append((function, file, int(line)))
        i += 2
    return out


PLATFORM_JAVA = ("java.", "javax.", "android.", "androidx.", "kotlin.", "kotlinx.", "dalvik.",
                 "com.android.", "com.google.android.", "sun.", "libcore.", "jdk.")


# "    1:1:void bar():54:54 -> t": obfuscated range, return type, name, original line(s), name.
MEMBER_LINE = re.compile(r"\s+(?:(\d+):(\d+):)?\S+ ([^\s(]+)\([^)]*\)"
                         r"(?::(\d+)(?::(\d+))?)? -> (\S+)$")


class Mapping:
    """Enough of ProGuard retrace for a trace: class lines, member lines with line ranges."""

    def __init__(self, text):
        self.id = [line.split(":", 1)[1].strip() for line in text.splitlines()
                   if line.startswith("# pg_map_id:")][0]
        self.classes = {}  # obfuscated -> (original, [members])
        members = None
        for line in text.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if not line[0].isspace():
                original, obfuscated = line.rstrip(":").split(" -> ")
                members = []
                self.classes[obfuscated] = (original, members)
                continue
            m = MEMBER_LINE.match(line)
            if m:
                start, end, name, orig_start, orig_end, obf = m.groups()
                members.append({"start": int(start) if start else None,
                                "end": int(end) if end else None, "name": name,
                                "orig_start": int(orig_start) if orig_start else None,
                                "orig_end": int(orig_end) if orig_end else None, "obf": obf})

    @staticmethod
    def synthesize_file(class_name):
        simple = class_name.rsplit(".", 1)[-1]
        return simple.split("$", 1)[0] + ".java"

    def retrace(self, cls, method, line):
        """[(class, method, file, line, inlined)] for one obfuscated frame."""
        if cls not in self.classes:
            return [(cls, method, None, line, False)]  # not obfuscated: kept as it is
        original, members = self.classes[cls]
        chain = [m for m in members if m["obf"] == method and m["start"] is not None
                 and m["start"] <= line <= m["end"]]
        if not chain:  # class known, method not: the class alone is deobfuscated
            return [(original, method, self.synthesize_file(original), line, False)]
        out = []
        for k, m in enumerate(chain):
            orig_line = m["orig_start"] + (line - m["start"] if m["orig_end"] else 0)
            cname = original
            name = m["name"]
            if "." in name:  # qualified with another class: an inlined foreign method
                cname, name = name.rsplit(".", 1)
            out.append((cname, name, self.synthesize_file(cname), orig_line, k + 1 < len(chain)))
        return out


def parse_java_frames(text):
    """[(class, method, file, line)] of the first exception of a printStackTrace text."""
    frames = []
    for line in text.splitlines()[1:]:
        m = re.match(r"\s+at ([\w$.<>-]+)\.([\w$<>-]+)(?:\(([^:)]*)(?::(\d+))?\))?$", line)
        if m:
            frames.append((m.group(1), m.group(2), m.group(3) or "", int(m.group(4) or 0)))
    return frames


def java_expected_frames(mapping, text):
    out = []
    for cls, method, file, line in parse_java_frames(text):
        for rc, rm, rfile, rline, inlined in mapping.retrace(cls, method, line):
            in_app = not rc.startswith(PLATFORM_JAVA)
            out.append(frame(rc + "." + rm, file if rfile is None else rfile, rline, rc, 0,
                             in_app, inlined, True))
    return out


# ---------------------------------------------------------------------------------------------
# The inputs
# ---------------------------------------------------------------------------------------------

NATIVE_SYM = fixture("breakpad/linux_inline.new.sym")
NATIVE_DEBUG_ID = breakpad_debug_id(NATIVE_SYM)  # bba6fa10-b8aa-b33d-0000-000000000000
NATIVE_BASE = 0x10000000
LIBC_DEBUG_ID = "01020304-0506-0708-090a-0b0c0d0e0f10"
NATIVE_IMAGES = [
    {"debug_id": NATIVE_DEBUG_ID, "name": "linux_inline", "image_addr": "0x%x" % NATIVE_BASE,
     "image_size": 0x20000},
    {"debug_id": LIBC_DEBUG_ID, "name": "/lib/x86_64-linux-gnu/libc.so.6",
     "image_addr": "0x7f3a00000000", "image_size": "0x200000"},
]
# Frame 0 sits in a three-deep inline chain; frame 1 is a return address right after a line
# record boundary (0x15b56 starts line 37; the call, at 0x15b55, is line 36); frame 2 is libc.
NATIVE_FRAMES = [NATIVE_BASE + 0x161b6, NATIVE_BASE + 0x15b56, 0x7f3a0002a1ca]


def native_error():
    return {"format": "native", "type": "SIGSEGV", "reason": "SEGV_MAPERR at 0x10",
            "threads": [{"crashed": False, "frames": [{"instruction_addr": "0x10015b30"}]},
                        {"crashed": True, "frames": [{"instruction_addr": "0x%x" % a}
                                                     for a in NATIVE_FRAMES]}],
            "images": NATIVE_IMAGES}


def native_expected_frames():
    bp = Breakpad(NATIVE_SYM)
    out = []
    for i, addr in enumerate(NATIVE_FRAMES):
        if NATIVE_BASE <= addr < NATIVE_BASE + 0x20000:
            rel = addr - NATIVE_BASE - (1 if i > 0 else 0)
            out += expand(bp.lookup(rel), module="linux_inline", address=addr, in_app=True)
        else:
            out.append(frame(module="/lib/x86_64-linux-gnu/libc.so.6", address=addr))
    return out


APPLE_UUID = "7a1c3e5f-2b4d-4c6e-8f90-a1b2c3d4e5f6"
APPLE_APP_PATH = ("/private/var/containers/Bundle/Application/4C1D2E3F-5A6B-4C7D-8E9F-0A1B2C3D4E5F/"
                  "VigilDemo.app/VigilDemo")
APPLE_IMAGES = [  # name, start, end (inclusive), arch, uuid, path, the app's own
    ("VigilDemo", 0x102a00000, 0x102a3ffff, "arm64", APPLE_UUID, APPLE_APP_PATH, True),
    ("libsystem_kernel.dylib", 0x1d2a00000, 0x1d2a3ffff, "arm64e",
     "1f2e3d4c-5b6a-7988-0112-233445566778", "/usr/lib/system/libsystem_kernel.dylib", False),
    ("libsystem_pthread.dylib", 0x1f3c00000, 0x1f3c0ffff, "arm64e",
     "2a3b4c5d-6e7f-8091-0a1b-2c3d4e5f6071", "/usr/lib/system/libsystem_pthread.dylib", False),
]
# The crashed thread: (address, symbol printed in the report or None).
APPLE_CRASHED = [(0x102a04a10, None), (0x102a05b2c, None), (0x102a06320, None),
                 (0x1f3c01a40, "_pthread_start")]
APPLE_EXCEPTION = "EXC_BAD_ACCESS (SIGSEGV)"
APPLE_SUBTYPE = "KERN_INVALID_ADDRESS at 0x0000000000000010"
# The app's symbols. Frame 1 (0x5b2c) is a return address on the first byte of line 12: the call
# is line 10. Frame 2 (0x6320) is a return address on the first byte of run(): the call is in
# tick().
APPLE_SYM = """MODULE mac arm64 %s0 VigilDemo
FILE 0 /Users/dev/VigilDemo/Sources/Renderer.swift
FILE 1 /Users/dev/VigilDemo/Sources/../Sources/AppDelegate.swift
FUNC 4a00 40 0 VigilDemo.Renderer.drawFrame(_:)
4a00 10 41 0
4a10 30 42 0
FUNC 5b00 60 0 VigilDemo.Renderer.render(scene:)
5b00 2c 10 0
5b2c 34 12 0
FUNC 6300 20 0 VigilDemo.AppDelegate.tick()
6300 20 22 1
FUNC 6320 40 0 VigilDemo.AppDelegate.run()
6320 40 30 1
""" % APPLE_UUID.replace("-", "").upper()


def apple_report():
    def frame_line(n, addr, symbol):
        img = next(i for i in APPLE_IMAGES if i[1] <= addr <= i[2])
        where = "%s + %d" % (symbol, 8 + n) if symbol else "0x%x + %d" % (img[1], addr - img[1])
        return "%-4d%-30s0x%016x %s" % (n, img[0], addr, where)
    lines = [
        "Incident Identifier: 9B2E0C41-6F3A-4D8B-A5C7-1E2F3A4B5C6D",
        "Hardware Model:      iPhone14,2",
        "Process:             VigilDemo [4821]",
        "Path:                " + APPLE_APP_PATH,
        "Identifier:          com.example.VigilDemo",
        "Version:             %s (310)" % VERSION,
        "Code Type:           ARM-64 (Native)",
        "Parent Process:      launchd [1]",
        "",
        "Date/Time:           2024-05-01 10:00:00.000 +0000",
        "OS Version:          iPhone OS 17.4 (21E219)",
        "Report Version:      104",
        "",
        "Exception Type:  " + APPLE_EXCEPTION,
        "Exception Subtype: " + APPLE_SUBTYPE,
        "Crashed Thread:  1",
        "",
        "Thread 0 name:  Dispatch queue: com.apple.main-thread",
        "Thread 0:",
        frame_line(0, 0x1d2a01234, "mach_msg2_trap"),
        frame_line(1, 0x102a06310, None),
        "",
        "Thread 1 Crashed:",
    ] + [frame_line(n, a, s) for n, (a, s) in enumerate(APPLE_CRASHED)] + [
        "",
        "Binary Images:",
    ] + ["%18s - %18s %s %s  <%s> %s" % ("0x%x" % s, "0x%x" % e, name, arch,
                                         uuid.replace("-", ""), path)
         for name, s, e, arch, uuid, path, _ in APPLE_IMAGES]
    return "\n".join(lines) + "\n"


def apple_expected_frames():
    bp = Breakpad(APPLE_SYM)
    out = []
    for i, (addr, symbol) in enumerate(APPLE_CRASHED):
        name, start, _, _, _, _, own = next(img for img in APPLE_IMAGES
                                            if img[1] <= addr <= img[2])
        if own:
            rel = addr - start - (1 if i > 0 else 0)
            out += expand(bp.lookup(rel), module=name, address=addr, in_app=True)
        else:
            out.append(frame(symbol or "", module=name, address=addr))
    return out


MAPPING_TEXT = fixture("proguard/mapping-inlines.txt")
MAPPING = Mapping(MAPPING_TEXT)  # id 5b46fdc, from its pg_map_id header
JAVA_TRACE = fixture("proguard/mapping-inlines.input.txt")
JAVA_HANDLED_TRACE = JAVA_TRACE.replace("Button press caused an exception!",
                                        "Retry budget exhausted", 1)

LIB_SOURCE = """#include <cstdlib>
__attribute__((noinline)) int parse_header(const char* p) { if (!p) abort(); return *p * 3; }
__attribute__((noinline)) int decode_frame(const char* p, int n) { return parse_header(p + n) + n; }
int render(const char* p) { return decode_frame(p, 4) * 2; }
"""
LIBC_BUILD_ID = "3d7a1b2c4e5f60718293a4b5c6d7e8f9a0b1c2d3"
ART_BUILD_ID = "9e8d7c6b5a49382716059f8e7d6c5b4a39281706"
APK_LIB_DIR = "/data/app/~~Yx3QhV1A==/com.example.vigildemo-Ab1cD2eF==/lib/x86_64/"

# The 3.2.0 crashes: one image whose symbols are uploaded in phase D, one never.
PLUGIN_DEBUG_ID = "11111111-2222-3333-4444-555555555555"
EXTRA_DEBUG_ID = "66666666-7777-8888-9999-aaaaaaaaaaaa"
EXTRA_SYM = """MODULE Linux x86_64 %s0 libextra.so
FILE 0 /src/extra/extra.c
FUNC 1000 40 0 extra_entry(int)
1000 10 7 0
1010 30 8 0
""" % EXTRA_DEBUG_ID.replace("-", "").upper()


def extra_error(debug_id, name):
    return {"format": "native", "type": "SIGSEGV",
            "threads": [{"crashed": True, "frames": [{"instruction_addr": "0x20001010"}]}],
            "images": [{"debug_id": debug_id, "name": name, "image_addr": "0x20000000",
                        "image_size": 0x10000}]}


def parse_metrics(text):
    """Each metric's sum over its series, and each labelled series by its full name."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$", line)
        if m:
            out[m.group(1)] = out.get(m.group(1), 0) + float(m.group(3))
            if m.group(2):
                out[m.group(1) + m.group(2)] = float(m.group(3))
    return out


# ---------------------------------------------------------------------------------------------
# The test
# ---------------------------------------------------------------------------------------------

@unittest.skipUnless(SYMBOLIZER and shutil.which("g++") and shutil.which("c++filt")
                     and shutil.which("readelf") and shutil.which("nm"),
                     "needs g++, readelf, nm, llvm-symbolizer and c++filt")
class CrashProcessingTest(unittest.TestCase):
    """Drives the phases in setUpClass, keeping every answer; the tests assert on them."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="vigil-crashproc-")
        cls.server = Server(data_dir=os.path.join(cls.tmp, "data"))
        try:
            cls.build_library()
            cls.make_events()
            wait_for_binary()
            cls.server.start()
            cls.run_phases()
        except BaseException:
            cls.server.stop()
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # --- inputs -----------------------------------------------------------------------------

    @classmethod
    def build_library(cls):
        src = os.path.join(cls.tmp, "sample_lib.cc")
        with open(src, "w") as f:
            f.write(LIB_SOURCE)
        cls.elf = os.path.join(cls.tmp, "libsample.so")
        subprocess.run(["g++", "-O2", "-g", "-shared", "-fPIC", "-Wl,--build-id", "-o", cls.elf,
                        src], check=True)
        notes = subprocess.run(["readelf", "-n", cls.elf], check=True, capture_output=True,
                               text=True).stdout
        cls.build_id = notes.split("Build ID:")[1].split()[0]
        symbols = {}
        for line in subprocess.run(["nm", "--defined-only", cls.elf], check=True,
                                   capture_output=True, text=True).stdout.splitlines():
            addr, _kind, name = line.split()
            symbols[name] = int(addr, 16)
        # GCC moves parse_header's abort() path to a ".cold" part: crash there when it exists, so
        # the top frame is "parse_header(char const*) [clone .cold]" and the title must drop the
        # suffix.
        top = symbols.get("_Z12parse_headerPKc.cold", symbols["_Z12parse_headerPKc"])
        # (relative pc, path, symbol as printed, build id, the app's own)
        cls.tomb_frames = [
            (0x5a8cf, "/apex/com.android.runtime/lib64/bionic/libc.so", "abort+175",
             LIBC_BUILD_ID, False),
            (top + 1, APK_LIB_DIR + "libsample.so", None, cls.build_id, True),
            (symbols["_Z12decode_framePKci"] + 1, APK_LIB_DIR + "libsample.so",
             "_Z12decode_framePKci+1", cls.build_id, True),
            (symbols["_Z6renderPKc"] + 1, APK_LIB_DIR + "libsample.so", "_Z6renderPKc+1",
             cls.build_id, True),
            (0x354e30, "/apex/com.android.art/lib64/libart.so",
             "art_quick_generic_jni_trampoline+144", ART_BUILD_ID, False),
        ]
        resolved = llvm_symbolize(cls.elf, [f[0] for f in cls.tomb_frames if f[4]])
        cls.tomb_expected = []
        for pc, path, symbol, _, own in cls.tomb_frames:
            module = path.rsplit("/", 1)[1]
            if own:  # tombstone pcs are module-relative and already adjusted: looked up as is
                cls.tomb_expected += expand(resolved[pc], module=module, address=pc, in_app=True)
            else:
                cls.tomb_expected.append(frame(symbol.rsplit("+", 1)[0], module=module,
                                               address=pc))

    @classmethod
    def elf_bytes(cls):
        with open(cls.elf, "rb") as f:
            return f.read()

    @classmethod
    def tombstone_text(cls):
        lines = [
            "*** *** *** *** *** *** *** *** *** *** *** *** *** *** *** ***",
            "Build fingerprint: 'google/sdk_gphone64_x86_64/emu64xa:14/UE1A.230829.036/"
            "10768052:userdebug/dev-keys'",
            "Revision: '0'",
            "ABI: 'x86_64'",
            "Timestamp: 2024-05-01 10:00:00.123456789+0000",
            "Process uptime: 3s",
            "Cmdline: com.example.vigildemo",
            "pid: 4242, tid: 4257, name: RenderThread  >>> com.example.vigildemo <<<",
            "uid: 10123",
            "signal 6 (SIGABRT), code -1 (SI_QUEUE), fault addr --------",
            "Abort message: 'parse_header: null input'",
            "    rax 0000000000000000  rbx 0000000000001092  rcx 00007f1c2a6e5c8f"
            "  rdx 0000000000000006",
            "",
            "backtrace:",
        ]
        for n, (pc, path, symbol, build_id, _) in enumerate(cls.tomb_frames):
            lines.append("      #%02d pc %016x  %s%s (BuildId: %s)" % (
                n, pc, path, " (%s)" % symbol if symbol else "", build_id))
        return "\n".join(lines) + "\n"

    @classmethod
    def make_events(cls):
        base = int(time.time() * 1000) - 120000
        cls.base_ts = base
        crumbs = [{"ts": base + 1500, "category": "navigation", "message": "opened the editor"}]
        # id -> what each event is and what must become of it.
        cls.events = {
            "e-native": dict(version=VERSION, ts=base + 1000, type="crash", error=native_error(),
                             exc="SIGSEGV", reason="SEGV_MAPERR at 0x10",
                             app_missing=["debug_id:" + NATIVE_DEBUG_ID],
                             system_missing=["debug_id:" + LIBC_DEBUG_ID],
                             frames=native_expected_frames()),
            "e-apple": dict(version=VERSION, ts=base + 2000, type="crash",
                            error={"format": "apple", "text": apple_report()},
                            breadcrumbs=crumbs, exc=APPLE_EXCEPTION.split(" (")[0],
                            reason=APPLE_SUBTYPE, app_missing=["debug_id:" + APPLE_UUID],
                            system_missing=["debug_id:" + i[4] for i in APPLE_IMAGES if not i[6]],
                            frames=apple_expected_frames()),
            "e-java": dict(version=VERSION, ts=base + 3000, type="crash",
                           error={"format": "java", "text": JAVA_TRACE, "mapping_id": MAPPING.id},
                           exc="java.lang.RuntimeException",
                           reason="Button press caused an exception!",
                           app_missing=["mapping_id:" + MAPPING.id], system_missing=[],
                           frames=java_expected_frames(MAPPING, JAVA_TRACE)),
            "e-tomb": dict(version=VERSION, ts=base + 4000, type="crash",
                           error={"format": "tombstone", "text": cls.tombstone_text()},
                           exc="SIGABRT", reason="parse_header: null input",
                           app_missing=["code_id:" + cls.build_id],
                           system_missing=["code_id:" + LIBC_BUILD_ID, "code_id:" + ART_BUILD_ID],
                           frames=cls.tomb_expected),
            "e-min": dict(version=VERSION, ts=base + 5000, type="crash",
                          error={"type": "com.example.QuotaExceeded", "reason": "disk full"},
                          exc="com.example.QuotaExceeded", reason="disk full", app_missing=[],
                          system_missing=[], frames=[]),
            "e-handled": dict(version=VERSION, ts=base + 6000, type="handled_exception",
                              error={"format": "java", "text": JAVA_HANDLED_TRACE,
                                     "mapping_id": MAPPING.id},
                              exc="java.lang.RuntimeException", reason="Retry budget exhausted",
                              app_missing=["mapping_id:" + MAPPING.id], system_missing=[],
                              frames=java_expected_frames(MAPPING, JAVA_HANDLED_TRACE)),
            "e-native-old": dict(version=OLD_VERSION, ts=base + 7000, type="crash",
                                 error=native_error(), exc="SIGSEGV",
                                 reason="SEGV_MAPERR at 0x10",
                                 app_missing=["debug_id:" + NATIVE_DEBUG_ID],
                                 system_missing=["debug_id:" + LIBC_DEBUG_ID],
                                 frames=native_expected_frames()),
            "e-min-old": dict(version=OLD_VERSION, ts=base + 8000, type="crash",
                              error={"type": "com.example.QuotaExceeded",
                                     "reason": "quota of 2 GiB reached"},
                              exc="com.example.QuotaExceeded", reason="quota of 2 GiB reached",
                              app_missing=[], system_missing=[], frames=[]),
        }
        for e in cls.events.values():
            e["title"], e["culprit"] = title_and_culprit(e["exc"], e["frames"])
            e["sentinel_title"] = ("%s (unsymbolicated, %s)" % (e["exc"], e["version"])
                                   if e["app_missing"] else e["title"])
        cls.late = {  # phase D, version 3.2.0
            "e-plugin": dict(version=NEXT_VERSION, ts=base + 9000, type="crash",
                             error=extra_error(PLUGIN_DEBUG_ID, "libplugin.so")),
            "e-extra": dict(version=NEXT_VERSION, ts=base + 10000, type="crash",
                            error=extra_error(EXTRA_DEBUG_ID, "libextra.so")),
        }
        cls.last = dict(version=NEXT_VERSION, ts=base + 11000, type="crash",
                        error={"type": "com.example.QuotaExceeded", "reason": "again"})
        extra = Breakpad(EXTRA_SYM).lookup(0x1010)  # frame 0: looked up as is
        cls.extra_frames = expand(extra, module="libextra.so", address=0x20001010, in_app=True)
        cls.extra_title, cls.extra_culprit = title_and_culprit("SIGSEGV", cls.extra_frames)

    @classmethod
    def wire(cls, eid, e):
        ev = {"id": eid, "type": e["type"], "ts": e["ts"], "error": e["error"]}
        if "breadcrumbs" in e:
            ev["breadcrumbs"] = e["breadcrumbs"]
        return ev

    # --- talking to the server --------------------------------------------------------------

    @classmethod
    def auth(cls):
        return {"Authorization": "Bearer " + cls.app["api_token"]}

    @classmethod
    def get(cls, path, token=None):
        headers = {"Authorization": "Bearer " + token} if token else cls.auth()
        return cls.server.json_request("GET", path, None, headers)

    @classmethod
    def groups(cls, query=""):
        status, _, body = cls.get("/v1/apps/%s/crash-groups%s" % (cls.app["id"], query))
        assert status == 200, (status, body)
        return without_range(body)

    @classmethod
    def detail(cls, group_id):
        status, _, body = cls.get("/v1/apps/%s/crash-groups/%s" % (cls.app["id"], group_id))
        assert status == 200, (status, body)
        return without_range(body)

    @classmethod
    def snapshot(cls):
        """The group list and every group's detail, by title."""
        listing = cls.groups()
        return listing, {g["title"]: cls.detail(g["id"]) for g in listing["groups"]}

    @classmethod
    def wait_groups(cls, what, predicate):
        deadline = time.time() + DEADLINE_S
        while True:
            body = cls.groups()
            if predicate(body["groups"]):
                return body
            if time.time() > deadline:
                raise AssertionError("timed out waiting for %s; last answer: %s"
                                     % (what, json.dumps(body, indent=1)))
            time.sleep(0.05)

    @classmethod
    def metrics(cls):
        status, _, body = cls.server.request("GET", "/metrics")
        assert status == 200, status
        return parse_metrics(body.decode())

    @classmethod
    def reprocess(cls, query=""):
        before = cls.metrics().get("vigil_process_reprocessed_total", 0)
        status, _, body = cls.server.json_request(
            "POST", "/v1/apps/%s/reprocess%s" % (cls.app["id"], query), b"", cls.auth())
        if status == 202:  # wait until the queued crashes went through and the index read them
            deadline = time.time() + DEADLINE_S
            while True:
                m = cls.metrics()
                if (m.get("vigil_process_reprocessed_total", 0) >= before + body["queued"]
                        and m.get("vigil_process_reprocess_pending", 0) == 0):
                    break
                if time.time() > deadline:
                    raise AssertionError("reprocessing %s did not finish: %s" % (body, m))
                time.sleep(0.05)
            time.sleep(0.5)  # the group index polls the processed log every ~20 ms
        return status, body

    @classmethod
    def upload(cls, data, name=None):
        path = "/v1/apps/%s/symbols" % cls.app["id"] + ("?name=" + name if name else "")
        status, _, body = cls.server.json_request("POST", path, data, cls.auth())
        assert status == 201, (status, body)
        return body

    @classmethod
    def restart(cls, kill=False):
        if kill:
            cls.server.kill9()
        else:
            cls.server.stop()
        for attempt in range(3):  # the binary may be being replaced by a rebuild
            wait_for_binary()
            try:
                cls.server.start()
                break
            except (OSError, RuntimeError):
                if attempt == 2:
                    raise
                time.sleep(20)
        cls.wait_caught_up()

    @classmethod
    def wait_caught_up(cls):
        """Until processing has read the whole raw log and has no reprocessing queued."""
        deadline = time.time() + DEADLINE_S
        while True:
            m = cls.metrics()
            # Processing's lag only: the archive and speed commit in the raw log too (the raw
            # records they still read through references), at their own pace.
            lags = [v for k, v in m.items()
                    if k.startswith("vigil_log_consumer_lag{") and 'consumer="process"' in k]
            if (lags and max(lags) == 0
                    and m.get("vigil_process_reprocess_pending", 1) == 0):
                return
            if time.time() > deadline:
                raise AssertionError("processing did not catch up: %s" % m)
            time.sleep(0.05)

    # --- the phases -------------------------------------------------------------------------

    @classmethod
    def run_phases(cls):
        cls.app = cls.server.create_app("crash-processing")
        cls.other = cls.server.create_app("someone-else")
        n_events = len(cls.events)

        def total(groups):
            return sum(g["events"] for g in groups)

        # A. Crashes before any symbol.
        by_version = {}
        for eid, e in cls.events.items():
            by_version.setdefault(e["version"], []).append(cls.wire(eid, e))
        cls.ingest_answers = []
        for version, evs in sorted(by_version.items()):
            status, _, body = cls.server.post_events(
                cls.app["ingest_key"], batch("crashes-" + version, evs,
                                             app={"version": version, "build": "1"}))
            cls.ingest_answers.append((status, body, len(evs)))
        cls.wait_groups("every crash of phase A to be grouped",
                        lambda gs: total(gs) == n_events)
        time.sleep(0.3)  # nothing more may arrive
        cls.before, cls.before_detail = cls.snapshot()
        cls.before_metrics = cls.metrics()

        # B. The symbol files arrive.
        cls.uploads = [
            cls.upload(NATIVE_SYM.encode()),
            cls.upload(APPLE_SYM.encode()),
            cls.upload(MAPPING_TEXT.encode(), name="mapping.txt"),
            cls.upload(cls.elf_bytes(), name="libsample.so"),
        ]
        cls.wait_groups("every crash to leave its sentinel group",
                        lambda gs: total(gs) == n_events and not any(g["sentinel"] for g in gs))
        time.sleep(0.3)
        cls.after, cls.after_detail = cls.snapshot()
        cls.after_metrics = cls.metrics()
        cls.filtered = {v: cls.groups("?version=" + urllib.parse.quote(v, safe=""))
                        for v in (VERSION, OLD_VERSION, "9.9.9")}
        cls.limited = cls.groups("?limit=2")
        cls.limited_version = cls.groups("?version=%s&limit=1" % VERSION)

        # C. A clean restart.
        cls.restart()
        cls.wait_groups("the groups after a restart", lambda gs: total(gs) >= n_events)
        time.sleep(0.5)
        cls.restarted, cls.restarted_detail = cls.snapshot()
        cls.restarted_metrics = cls.metrics()
        # The SDK sends the 3.1.0 batch again: a duplicate, nothing is counted again.
        status, _, body = cls.server.post_events(
            cls.app["ingest_key"], batch("crashes-" + VERSION, by_version[VERSION],
                                         app={"version": VERSION, "build": "1"}))
        cls.duplicate_answer = (status, body)
        time.sleep(0.5)
        cls.after_duplicate = cls.groups()

        # D. Two crashes whose symbols are missing; reprocessing; one image's symbols arrive.
        status, _, body = cls.server.post_events(
            cls.app["ingest_key"], batch("crashes-" + NEXT_VERSION,
                                         [cls.wire(eid, e) for eid, e in cls.late.items()],
                                         app={"version": NEXT_VERSION, "build": "2"}))
        cls.ingest_answers.append((status, body, len(cls.late)))
        cls.wait_groups("the 3.2.0 crashes", lambda gs: total(gs) == n_events + 2)
        time.sleep(0.3)
        cls.late_before, cls.late_before_detail = cls.snapshot()
        cls.reprocess_answers = {q: cls.reprocess(q) for q in
                                 ("?version=" + VERSION, "?version=" + NEXT_VERSION, "")}
        cls.late_reprocessed, cls.late_reprocessed_detail = cls.snapshot()
        cls.extra_upload = cls.upload(EXTRA_SYM.encode())
        cls.wait_groups("the libextra crash to move to its group",
                        lambda gs: any(g["title"] == cls.extra_title for g in gs))
        time.sleep(0.3)
        cls.late_after, cls.late_after_detail = cls.snapshot()
        cls.reprocess_left = cls.reprocess("")
        cls.reprocess_left_versioned = cls.reprocess("?version=" + NEXT_VERSION)
        # Nothing in the counts shows that the index has read the reprocessed records; the
        # sentinel group's sample being e-plugin's does (see test_x_...moved_out).
        deadline = time.time() + 5
        while time.time() < deadline:
            listing = cls.groups()
            g = [g for g in listing["groups"] if g["title"] == "SIGSEGV (unsymbolicated, %s)"
                 % NEXT_VERSION]
            if g and cls.detail(g[0]["id"])["sample"]["event_id"] == "e-plugin":
                break
            time.sleep(0.05)
        cls.late_final, cls.late_final_detail = cls.snapshot()
        cls.late_final_metrics = cls.metrics()

        # E. One more crash, then kill -9 at once: the raw log's offsets (committed once a
        # second) and the group snapshot (every 5 s) are likely behind, so processing runs again
        # over records already processed; nothing may count twice.
        status, _, body = cls.server.post_events(
            cls.app["ingest_key"], batch("crashes-last", [cls.wire("e-last", cls.last)],
                                         app={"version": NEXT_VERSION, "build": "2"}))
        cls.ingest_answers.append((status, body, 1))
        cls.wait_groups("the last crash", lambda gs: total(gs) == n_events + 3)
        cls.pre_kill, cls.pre_kill_detail = cls.snapshot()
        cls.restart(kill=True)
        cls.wait_groups("the groups after kill -9",
                        lambda gs: total(gs) >= n_events + 3 and
                        len(gs) == len(cls.pre_kill["groups"]))
        time.sleep(1.0)
        cls.killed, cls.killed_detail = cls.snapshot()

    # --- helpers for the assertions ---------------------------------------------------------

    def by_title(self, listing):
        titles = [g["title"] for g in listing["groups"]]
        self.assertEqual(len(titles), len(set(titles)), titles)
        return {g["title"]: g for g in listing["groups"]}

    def expected_groups(self, titles_of, events):
        """title -> expected counts of the events grouped under titles_of(event)."""
        out = {}
        for eid, e in events.items():
            g = out.setdefault(titles_of(e), {"crashes": 0, "handled": 0, "versions": {},
                                              "ts": [], "ids": []})
            key = "handled" if e["type"] == "handled_exception" else "crashes"
            g[key] += 1
            v = g["versions"].setdefault(e["version"], {"crashes": 0, "handled": 0})
            v[key] += 1
            g["ts"].append(e["ts"])
            g["ids"].append(eid)
        return out

    def assert_counts(self, group, want):
        self.assertEqual(group["crashes"], want["crashes"], group)
        self.assertEqual(group["handled"], want["handled"], group)
        self.assertEqual(group["events"], want["crashes"] + want["handled"], group)
        self.assertEqual(group["versions"], want["versions"], group)
        self.assertEqual(group["first_seen"], min(want["ts"]), group)
        self.assertEqual(group["last_seen"], max(want["ts"]), group)

    def assert_sorted(self, listing):
        events = [g["events"] for g in listing["groups"]]
        self.assertEqual(events, sorted(events, reverse=True), "most events first")
        self.assertEqual(listing["total"], len(listing["groups"]))

    def assert_sample_event(self, sample, eid, e):
        self.assertEqual(sample["event_id"], eid)
        self.assertEqual(sample["type"], e["type"])
        self.assertEqual(sample["ts"], e["ts"])
        self.assertEqual(sample["version"], e["version"])
        self.assertEqual(sample["device"], batch("x", [])["device"])
        self.assertEqual(sample["user"], batch("x", [])["user"])
        self.assertEqual(sample["error"], {k: v for k, v in e["error"].items()
                                           if k in ("format", "type", "reason", "mapping_id")})
        if "breadcrumbs" in e:
            self.assertEqual(sample["breadcrumbs"], e["breadcrumbs"])
        else:
            self.assertNotIn("breadcrumbs", sample)

    # --- tests ------------------------------------------------------------------------------

    def test_a_ingest_accepted_every_crash(self):
        for status, body, n in self.ingest_answers:
            self.assertEqual((status, body), (202, {"accepted": n, "rejected": 0, "errors": []}))

    def test_a_each_stack_crash_waits_in_the_sentinel_group_of_its_version_and_type(self):
        self.assert_sorted(self.before)
        groups = self.by_title(self.before)
        want = self.expected_groups(lambda e: e["sentinel_title"], self.events)
        self.assertEqual(set(groups), set(want))
        # 4 sentinel groups of 3.1.0, one of the old version, and the minimal crashes' own group.
        self.assertEqual(len(groups), 6)
        for title, w in want.items():
            g = groups[title]
            self.assert_counts(g, w)
            # The detail adds distinct users per version: every test batch has the same user.
            self.assertEqual(self.before_detail[title]["versions"],
                             {v: dict(c, users=1) for v, c in w["versions"].items()})
            events = [self.events[i] for i in w["ids"]]
            self.assertEqual(g["type"], events[0]["exc"])
            self.assertRegex(g["id"], r"^[0-9a-f]{16}$")
            if not events[0]["app_missing"]:  # the minimal crash: grouped by type, never sentinel
                self.assertEqual((g["title"], g["culprit"], g["sentinel"], g["missing"]),
                                 (events[0]["exc"], "", False, []))
                continue
            self.assertTrue(g["sentinel"], g)
            self.assertEqual(g["culprit"], "")
            app_missing = sorted({m for e in events for m in e["app_missing"]})
            system_missing = {m for e in events for m in e["system_missing"]}
            # Only the app's own files are named, never an OS library's.
            self.assertEqual(g["missing"], app_missing, g)
            self.assertFalse(set(g["missing"]) & system_missing, g)
        # The Java crash and the handled exception share one sentinel group.
        java = groups["java.lang.RuntimeException (unsymbolicated, %s)" % VERSION]
        self.assertEqual((java["crashes"], java["handled"]), (1, 1))
        self.assertEqual(self.before_metrics.get("vigil_crash_groups_sentinel_crashes"),
                         sum(1 for e in self.events.values() if e["app_missing"]))

    def test_a_sentinel_samples_are_unsymbolicated(self):
        for title, d in self.before_detail.items():
            sample = d["sample"]
            eid = max((i for i, e in self.events.items() if e["sentinel_title"] == title),
                      key=lambda i: self.events[i]["ts"])
            e = self.events[eid]
            self.assert_sample_event(sample, eid, e)
            p = sample["processed"]
            self.assertEqual((p["type"], p["reason"], p["group_id"], p["title"], p["sentinel"]),
                             (e["exc"], e["reason"], d["id"], title, bool(e["app_missing"])))
            if not e["app_missing"]:
                self.assertEqual((p["format"], p["symbolicated"], p["missing"], p["frames"]),
                                 ("minimal", True, [], []))
                continue
            self.assertFalse(p["symbolicated"])
            for m in e["app_missing"]:
                self.assertIn(m, p["missing"])
            in_app = [f for f in p["frames"] if f["in_app"]]
            self.assertTrue(in_app)
            self.assertFalse(any(f["symbolicated"] for f in in_app), p["frames"])
        # Native stacks are not expanded yet: one frame per address, the app's without a name.
        native = self.before_detail["SIGSEGV (unsymbolicated, %s)" % VERSION]["sample"]
        self.assertEqual([f["address"] for f in native["processed"]["frames"]], NATIVE_FRAMES)
        self.assertEqual([f["function"] for f in native["processed"]["frames"]], ["", "", ""])

    def test_b_uploads_answer_the_ids_of_the_files(self):
        kinds = [(u["kind"], u.get("debug_id") or u.get("mapping_id") or "")
                 for u in self.uploads]
        from_elf = self.uploads[3]
        self.assertEqual(kinds[:3], [("breakpad", NATIVE_DEBUG_ID),
                                     ("breakpad", breakpad_debug_id(APPLE_SYM)),
                                     ("proguard", MAPPING.id)])
        self.assertEqual(breakpad_debug_id(APPLE_SYM), APPLE_UUID)
        self.assertEqual((from_elf["kind"], from_elf["code_id"]), ("elf", self.build_id))

    def test_b_every_crash_moves_to_its_real_group(self):
        self.assert_sorted(self.after)
        groups = self.by_title(self.after)
        want = self.expected_groups(lambda e: e["title"], self.events)
        self.assertEqual(set(groups), set(want))
        self.assertEqual(len(groups), 5)
        for title, w in want.items():
            g = groups[title]
            e = self.events[w["ids"][0]]
            self.assert_counts(g, w)
            self.assertEqual((g["title"], g["culprit"], g["type"], g["sentinel"], g["missing"]),
                             (e["title"], e["culprit"], e["exc"], False, []))
            self.assertRegex(g["id"], r"^[0-9a-f]{16}$")
        # The titles as the documented rule gives them for these inputs.
        self.assertEqual(self.events["e-native"]["title"], "SIGSEGV: func()")
        self.assertEqual(self.events["e-native"]["culprit"], "func() (linux_inline.cpp)")
        self.assertEqual(self.events["e-apple"]["title"],
                         "EXC_BAD_ACCESS: VigilDemo.Renderer.drawFrame(_:)")
        self.assertEqual(self.events["e-java"]["title"],
                         "java.lang.RuntimeException: io.sentry.sample.MainActivity.bar")
        self.assertEqual(self.events["e-tomb"]["title"], "SIGABRT: parse_header(char const*)")
        # The same bug in two versions is one group; so are a crash and a handled exception.
        native = groups["SIGSEGV: func()"]
        self.assertEqual(native["versions"], {VERSION: {"crashes": 1, "handled": 0},
                                              OLD_VERSION: {"crashes": 1, "handled": 0}})
        java = groups[self.events["e-java"]["title"]]
        self.assertEqual((java["crashes"], java["handled"], java["events"]), (1, 1, 2))
        # The minimal crashes' group is the same group as before the upload.
        self.assertEqual(groups["com.example.QuotaExceeded"]["id"],
                         self.by_title(self.before)["com.example.QuotaExceeded"]["id"])
        self.assertEqual(self.after_metrics.get("vigil_crash_groups_sentinel_crashes"), 0)

    def test_b_samples_hold_the_symbolicated_frames(self):
        for title, d in self.after_detail.items():
            eid = max((i for i, e in self.events.items() if e["title"] == title),
                      key=lambda i: self.events[i]["ts"])
            e = self.events[eid]
            with self.subTest(title=title, event=eid):
                sample = d["sample"]
                self.assert_sample_event(sample, eid, e)
                p = sample["processed"]
                fmt = e["error"].get("format", "minimal")
                self.assertEqual(
                    (p["format"], p["type"], p["reason"], p["group_id"], p["title"],
                     p["culprit"], p["sentinel"], p["symbolicated"]),
                    (fmt, e["exc"], e["reason"], d["id"], e["title"], e["culprit"], False, True))
                self.assertEqual(p["frames"], e["frames"])
                self.assertNotIn("error", p)
                # Nothing of the app's is missing any more; OS libraries see the xfail test.
                self.assertFalse(set(e["app_missing"]) & set(p["missing"]), p["missing"])
                self.assertLessEqual(set(p["missing"]), set(e["system_missing"]))

    def test_b_expected_frames_are_what_the_fixtures_say(self):
        # The oracles themselves, against what the fixtures state.
        native = self.events["e-native"]["frames"]
        self.assertEqual([(f["function"], f["file"], f["line"], f["inlined"]) for f in native[:6]],
                         [("func()", "linux_inline.cpp", 27, True), ("bar()", "c.cpp", 32, True),
                          ("foo()", "b.cpp", 39, True), ("main", "a.cpp", 42, False),
                          ("foo()", "linux_inline.cpp", 36, True), ("main", "a.cpp", 42, False)])
        apple = self.events["e-apple"]["frames"]
        self.assertEqual([(f["function"], f["line"]) for f in apple[:3]],
                         [("VigilDemo.Renderer.drawFrame(_:)", 42),
                          ("VigilDemo.Renderer.render(scene:)", 10),
                          ("VigilDemo.AppDelegate.tick()", 22)])
        self.assertEqual(apple[2]["file"], "/Users/dev/VigilDemo/Sources/AppDelegate.swift")
        # mapping-inlines.expected.txt, except its paren-less "at e.a.c.a.onClick" line, which
        # the text retracer leaves alone but whose class a parsed frame gets deobfuscated.
        expected_text = fixture("proguard/mapping-inlines.expected.txt")
        want = [(c, m, f, ln) for c, m, f, ln in parse_java_frames(expected_text)]
        got = [(f["module"], f["function"][len(f["module"]) + 1:], f["file"], f["line"])
               for f in self.events["e-java"]["frames"]]
        onclick = [k for k, w in enumerate(want) if w[:2] == ("e.a.c.a", "onClick")]
        self.assertEqual(len(onclick), 1)
        k = onclick[0]
        self.assertEqual(got[:k] + got[k + 1:], want[:k] + want[k + 1:])
        self.assertEqual(got[k], ("io.sentry.sample.-$$Lambda$r3Avcbztes2hicEObh02jjhQqd4",
                                  "onClick", "-.java", 0))
        self.assertEqual([f["inlined"] for f in self.events["e-java"]["frames"][:4]],
                         [True, True, False, False])
        tomb = self.events["e-tomb"]["frames"]
        self.assertEqual([f["module"] for f in tomb],
                         ["libc.so", "libsample.so", "libsample.so", "libsample.so", "libart.so"])

    def test_b_version_filter_and_limit(self):
        for version, listing in self.filtered.items():
            with self.subTest(version=version):
                self.assert_sorted(listing)
                events = {i: e for i, e in self.events.items() if e["version"] == version}
                want = self.expected_groups(lambda e: e["title"], events)
                groups = self.by_title(listing)
                self.assertEqual(set(groups), set(want))
                for title, w in want.items():
                    self.assertEqual((groups[title]["crashes"], groups[title]["handled"],
                                      groups[title]["events"], groups[title]["versions"]),
                                     (w["crashes"], w["handled"], w["crashes"] + w["handled"],
                                      w["versions"]))
        self.assertEqual(self.filtered["9.9.9"], {"total": 0, "groups": []})
        self.assertEqual(len(self.filtered[OLD_VERSION]["groups"]), 2)
        self.assertEqual(self.limited["total"], 5)
        self.assertEqual(self.limited["groups"], self.after["groups"][:2])
        self.assertEqual(self.limited_version["total"], 5)
        self.assertEqual(self.limited_version["groups"], self.filtered[VERSION]["groups"][:1])

    def test_c_restart_keeps_groups_and_counts(self):
        self.assertEqual(self.restarted, self.after)
        self.assertEqual(self.restarted_detail, self.after_detail)
        # Nothing was processed again after a clean restart.
        self.assertEqual(self.restarted_metrics.get("vigil_process_crashes_total"), 0)
        self.assertEqual(self.restarted_metrics.get("vigil_crash_groups_sentinel_crashes"), 0)
        self.assertEqual(self.duplicate_answer[0], 202)
        self.assertEqual(self.duplicate_answer[1].get("duplicate"), True, self.duplicate_answer)
        self.assertEqual(self.after_duplicate, self.after)

    def test_d_sentinel_crashes_of_a_new_version(self):
        groups = self.by_title(self.late_before)
        sentinel = groups["SIGSEGV (unsymbolicated, %s)" % NEXT_VERSION]
        self.assertEqual((sentinel["sentinel"], sentinel["crashes"], sentinel["versions"]),
                         (True, 2, {NEXT_VERSION: {"crashes": 2, "handled": 0}}))
        self.assertEqual(sentinel["missing"], sorted(["debug_id:" + PLUGIN_DEBUG_ID,
                                                      "debug_id:" + EXTRA_DEBUG_ID]))
        # Everything else is as it was.
        del groups["SIGSEGV (unsymbolicated, %s)" % NEXT_VERSION]
        self.assertEqual(groups, self.by_title(self.after))

    def test_d_reprocess_queues_the_sentinel_crashes_and_counts_nothing_twice(self):
        self.assertEqual(self.reprocess_answers["?version=" + VERSION], (202, {"queued": 0}))
        self.assertEqual(self.reprocess_answers["?version=" + NEXT_VERSION], (202, {"queued": 2}))
        self.assertEqual(self.reprocess_answers[""], (202, {"queued": 2}))
        self.assertEqual(self.late_reprocessed, self.late_before)
        # After the libextra symbols: one crash moved, one still waits, and reprocessing it
        # (twice) leaves every count as it was.
        self.assertEqual(self.reprocess_left, (202, {"queued": 1}))
        self.assertEqual(self.reprocess_left_versioned, (202, {"queued": 1}))
        timeless = lambda listing: [{k: v for k, v in g.items()  # noqa: E731
                                     if k not in ("first_seen", "last_seen")}
                                    for g in listing["groups"]]
        self.assertEqual(timeless(self.late_final), timeless(self.late_after))
        # (first_seen / last_seen: see test_x_a_sentinel_group_forgets_a_crash_that_moved_out.)
        sentinel = self.late_final_detail["SIGSEGV (unsymbolicated, %s)" % NEXT_VERSION]
        ts = self.late["e-plugin"]["ts"]
        self.assertEqual((sentinel["first_seen"], sentinel["last_seen"]), (ts, ts))
        self.assertEqual(sentinel["sample"]["event_id"], "e-plugin")
        self.assertEqual(sentinel["sample"]["processed"]["missing"],
                         ["debug_id:" + PLUGIN_DEBUG_ID])
        self.assertTrue(sentinel["sample"]["processed"]["sentinel"])
        self.assertEqual(self.late_final_metrics.get("vigil_crash_groups_sentinel_crashes"), 1)

    def test_d_uploading_one_image_moves_only_its_crash(self):
        self.assertEqual(self.extra_upload["debug_id"], EXTRA_DEBUG_ID)
        groups = self.by_title(self.late_after)
        self.assertEqual(len(groups), 7)
        sentinel = groups["SIGSEGV (unsymbolicated, %s)" % NEXT_VERSION]
        self.assertEqual((sentinel["sentinel"], sentinel["crashes"], sentinel["events"],
                          sentinel["versions"], sentinel["missing"]),
                         (True, 1, 1, {NEXT_VERSION: {"crashes": 1, "handled": 0}},
                          ["debug_id:" + PLUGIN_DEBUG_ID]))
        extra = groups[self.extra_title]
        ts = self.late["e-extra"]["ts"]
        self.assertEqual((extra["culprit"], extra["sentinel"], extra["crashes"], extra["versions"],
                          extra["first_seen"], extra["last_seen"], extra["missing"]),
                         (self.extra_culprit, False, 1, {NEXT_VERSION: {"crashes": 1,
                                                                        "handled": 0}},
                          ts, ts, []))
        self.assertEqual(self.extra_title, "SIGSEGV: extra_entry(int)")
        p = self.late_after_detail[self.extra_title]["sample"]["processed"]
        self.assertEqual(p["frames"], self.extra_frames)
        self.assertEqual((p["symbolicated"], p["missing"], p["group_id"]),
                         (True, [], extra["id"]))
        self.assertEqual(self.late_after_detail[self.extra_title]["sample"]["event_id"],
                         "e-extra")

    def test_e_kill9_restart_keeps_groups_and_counts(self):
        # Before the kill: the phase D state plus e-last in the minimal crashes' group.
        before = self.by_title(self.pre_kill)
        quota = before.pop("com.example.QuotaExceeded")
        final = self.by_title(self.late_final)
        old_quota = final.pop("com.example.QuotaExceeded")
        self.assertEqual(before, final)
        ts = self.last["ts"]
        self.assertEqual((quota["id"], quota["crashes"], quota["versions"], quota["last_seen"]),
                         (old_quota["id"], 3, dict(old_quota["versions"], **{
                             NEXT_VERSION: {"crashes": 1, "handled": 0}}), ts))
        self.assertEqual(self.pre_kill_detail["com.example.QuotaExceeded"]["sample"]["event_id"],
                         "e-last")
        # After kill -9 and restart: the same.
        self.assertEqual(self.killed, self.pre_kill)
        self.assertEqual(self.killed_detail, self.pre_kill_detail)

    def test_f_errors(self):
        app, other = self.app["id"], self.other["id"]
        groups = "/v1/apps/%s/crash-groups" % app
        some_id = self.after["groups"][0]["id"]
        mine = {"Authorization": "Bearer " + self.app["api_token"]}
        theirs = {"Authorization": "Bearer " + self.other["api_token"]}
        cases = [
            ("GET", groups, {}, 401, "missing API token"),
            ("GET", groups, {"Authorization": "Bearer nope"}, 401, "unknown API token"),
            ("GET", groups, theirs, 403, "belongs to app " + other),
            ("GET", groups + "/" + some_id, theirs, 403, "belongs to app " + other),
            ("POST", "/v1/apps/%s/reprocess" % app, {}, 401, "missing API token"),
            ("POST", "/v1/apps/%s/reprocess" % app, theirs, 403, "belongs to app " + other),
            ("POST", groups, mine, 405, ""),
            ("DELETE", groups + "/" + some_id, mine, 405, ""),
            ("GET", "/v1/apps/%s/reprocess" % app, mine, 405, ""),
            ("GET", groups + "/0123456789abcdef", mine, 404, "0123456789abcdef"),
            ("GET", "/v1/apps/%s/crash-groups/%s" % (other, some_id), theirs, 404, some_id),
            ("GET", groups + "?limit=0", mine, 400, "limit"),
            ("GET", groups + "?limit=10001", mine, 400, "limit"),
            ("GET", groups + "?limit=-1", mine, 400, "limit"),
            ("GET", groups + "?limit=ten", mine, 400, "limit"),
        ]
        for method, path, headers, status, text in cases:
            with self.subTest(method=method, path=path, status=status):
                body = b"" if method == "POST" else None
                got, _, answer = self.server.json_request(method, path, body, headers)
                self.assertEqual(got, status, answer)
                self.assertEqual(list(answer), ["error"], answer)
                self.assertIn(text, answer["error"])
        # The bounds themselves are fine; another app sees none of these groups.
        for limit in (1, 10000):
            got, _, answer = self.server.json_request("GET", groups + "?limit=%d" % limit, None,
                                                      mine)
            self.assertEqual((got, len(answer["groups"])), (200, min(limit, answer["total"])))
        got, _, answer = self.server.json_request("GET", "/v1/apps/%s/crash-groups" % other,
                                                  None, theirs)
        self.assertEqual((got, without_range(answer)), (200, {"total": 0, "groups": []}))
        got, _, answer = self.server.json_request("POST", "/v1/apps/%s/reprocess" % other, b"",
                                                  theirs)
        self.assertEqual((got, answer), (202, {"queued": 0}))

    def test_x_missing_names_only_files_the_app_can_upload(self):
        # A sentinel group tells the user which files to upload. OS libraries (libc, libart,
        # libsystem_pthread) are not the app's and their symbols cannot be uploaded: they are
        # never listed, and nothing stays missing once the app's own files are there.
        for title, g in self.by_title(self.before).items():
            events = [e for e in self.events.values() if e["sentinel_title"] == title]
            self.assertEqual(g["missing"], sorted({m for e in events for m in e["app_missing"]}),
                             title)
        for title, d in self.after_detail.items():
            self.assertEqual(d["sample"]["processed"]["missing"], [], title)

    def test_x_a_sentinel_group_forgets_a_crash_that_moved_out(self):
        # When a reprocessed crash leaves a group that keeps other crashes, the group's times and
        # sample are those of the crashes still in it: the 3.2.0 sentinel group holds only
        # e-plugin after e-extra moved out.
        g = self.late_after_detail["SIGSEGV (unsymbolicated, %s)" % NEXT_VERSION]
        ts = self.late["e-plugin"]["ts"]
        self.assertEqual(g["sample"]["event_id"], "e-plugin")
        self.assertEqual(g["sample"]["processed"]["group_id"], g["id"])
        self.assertEqual((g["first_seen"], g["last_seen"]), (ts, ts))


if __name__ == "__main__":
    unittest.main()

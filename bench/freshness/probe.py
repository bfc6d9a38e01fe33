#!/usr/bin/env python3
"""Freshness probe for bench/freshness: posts one app load at a time to a quiet app and measures
how long until GET /metrics counts it (accepted → visible), while other traffic runs.

usage: probe.py PORT APP INGEST_KEY API_TOKEN COUNT INTERVAL_S
Prints one JSON line: {"probes", "p50_ms", "p90_ms", "p99_ms", "max_ms"}.
"""
import gzip
import http.client
import json
import sys
import time


def main():
    port, app, key, token = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    count, interval = int(sys.argv[5]), float(sys.argv[6])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    run = "%x" % int(time.time() * 1000)

    def visible():
        now = int(time.time() * 1000)
        conn.request("GET", "/v1/apps/%s/metrics?name=app_loads&granularity=hour&from=%d&to=%d"
                     % (app, now - 3 * 3600 * 1000, now + 3600 * 1000),
                     headers={"Authorization": "Bearer " + token})
        resp = conn.getresponse()
        body = json.loads(resp.read())
        assert resp.status == 200, body
        return sum(p["value"] for p in body["points"])

    latencies = []
    for i in range(count):
        now = int(time.time() * 1000)
        batch = {"batch_id": "probe-%s-%d" % (run, i), "sent_at": now,
                 "device": {"id": "probe-device", "os": "android"}, "app": {"version": "1.0"},
                 "user": {"id": "probe"},
                 "events": [{"id": "probe-%s-%d" % (run, i), "type": "session_start", "ts": now}]}
        conn.request("POST", "/v1/events", body=gzip.compress(json.dumps(batch).encode()),
                      headers={"X-Vigil-Key": key, "Content-Encoding": "gzip",
                               "Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 202, resp.status
        accepted = time.monotonic()
        while visible() < i + 1:
            time.sleep(0.002)
            if time.monotonic() - accepted > 30:
                raise SystemExit("probe %d not visible after 30 s" % i)
        latencies.append((time.monotonic() - accepted) * 1000)
        time.sleep(interval)
    latencies.sort()

    def pct(p):
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 1)
    print(json.dumps({"probes": len(latencies), "p50_ms": pct(0.50), "p90_ms": pct(0.90),
                      "p99_ms": pct(0.99), "max_ms": round(latencies[-1], 1)}))


if __name__ == "__main__":
    main()

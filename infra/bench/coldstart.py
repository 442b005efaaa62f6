#!/usr/bin/env python3
"""Cold start of each Lambda binary: exec -> its first poll of the Lambda Runtime API.

Run by infra/bench/coldstart.sh (which finds the binaries); standard library only.

One loopback HTTP server plays both things a binary talks to before its first poll:
  - the Lambda Runtime API (AWS_LAMBDA_RUNTIME_API): GET /2018-06-01/runtime/invocation/next is
    the first poll; its arrival time is recorded and the connection held until the process is
    killed. POST .../init/error means the binary failed its init (reported, the run fails);
  - Secrets Manager (AWS_ENDPOINT_URL): every function reads the platform secret at start
    (wxopen::runtime::AwsRuntime::token_manager, or token-refresher's main); GetSecretValue is
    answered at once with a valid secret. Nothing else is called before the first poll.

Each start: spawn (the clock starts just before), wait for the poll, read the process's peak
RSS (VmHWM in /proc/PID/status), SIGKILL, wait4() for its CPU time (user + system). One
unmeasured start per binary first (page cache), then N measured ones; the median is printed. Loopback answers in well under a millisecond: in
Lambda the secret read is a TLS round trip to Secrets Manager (tens of ms) on top of this.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = {
    "component_appid": "wx1234567890abcdef",
    "component_appsecret": "bench-app-secret",
    "token": "benchtoken",
    "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    "operator_key_sha256": ["0" * 64],
}


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.polled = threading.Event()
        self.release = threading.Event()
        self.poll_ns = None
        self.init_error = None
        self.secret_reads = 0
        self.other = []

    def reset(self):
        with self.lock:
            self.polled.clear()
            self.release.clear()
            self.poll_ns = None
            self.init_error = None
            self.secret_reads = 0
            self.other = []


STATE = State()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _answer(self, code, body, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/2018-06-01/runtime/invocation/next":
            now = time.monotonic_ns()
            with STATE.lock:
                if STATE.poll_ns is None:
                    STATE.poll_ns = now
            STATE.polled.set()
            # Hold the poll: the process is killed while it waits for an event.
            STATE.release.wait(30)
            self.close_connection = True
            return
        with STATE.lock:
            STATE.other.append(f"GET {self.path}")
        self._answer(404, "{}")

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        target = self.headers.get("X-Amz-Target", "")
        if target == "secretsmanager.GetSecretValue":
            with STATE.lock:
                STATE.secret_reads += 1
            name = json.loads(body or b"{}").get("SecretId", "wxopen-bench")
            self._answer(
                200,
                json.dumps(
                    {
                        "ARN": f"arn:aws:secretsmanager:us-east-1:000000000000:secret:{name}-abcdef",
                        "Name": name,
                        "SecretString": json.dumps(SECRET),
                        "VersionId": "00000000-0000-0000-0000-000000000000",
                        "VersionStages": ["AWSCURRENT"],
                        "CreatedDate": 1.7e9,
                    }
                ),
                "application/x-amz-json-1.1",
            )
            return
        if self.path.startswith("/2018-06-01/runtime/init/error"):
            with STATE.lock:
                STATE.init_error = body.decode(errors="replace")[:500]
            STATE.polled.set()
            self._answer(202, "{}")
            return
        with STATE.lock:
            STATE.other.append(f"POST {self.path} {target}")
        self._answer(400, json.dumps({"__type": "UnknownOperation", "message": target}))


def start_once(name, binary, env, timeout):
    STATE.reset()
    t0 = time.monotonic_ns()
    proc = subprocess.Popen(
        [binary], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + timeout
    got = False
    while time.monotonic() < deadline:
        if STATE.polled.wait(0.001):
            got = True
            break
        if proc.poll() is not None:  # exited before polling (an init failure)
            break
    hwm_kib = None
    if got:
        # The process's own peak RSS (its mm's high-water mark). Not wait4's ru_maxrss: Linux
        # carries the forked parent's RSS (this Python process, ~20 MiB) over the exec into it.
        with open(f"/proc/{proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm_kib = int(line.split()[1])
    if proc.returncode is None:
        os.kill(proc.pid, signal.SIGKILL)
    else:
        raise RuntimeError(f"{name}: exited {proc.returncode} before its first poll\n"
                           + proc.stderr.read().decode(errors="replace")[-2000:])
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = status
    STATE.release.set()
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if not got or STATE.poll_ns is None:
        reason = STATE.init_error or "no poll within timeout"
        raise RuntimeError(f"{name}: {reason}\n{err[-2000:]}")
    return {
        "ms": (STATE.poll_ns - t0) / 1e6,
        "rss_kib": hwm_kib,
        "cpu_ms": (ru.ru_utime + ru.ru_stime) * 1000,
        "secret_reads": STATE.secret_reads,
        "other": list(STATE.other),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--timeout", type=float, default=10)
    ap.add_argument("--arch", default="?")
    ap.add_argument("binaries", nargs="+", help="name=path/to/bootstrap")
    a = ap.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()

    base_env = {
        "PATH": "/usr/bin:/bin",
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "WXOPEN_TABLE": "wxopen-bench",
        "WXOPEN_SECRET_ID": "wxopen-bench",
        "RUST_LOG": "info",
    }

    # Passed through when set, to compare root-certificate layouts (see coldstart.sh).
    for k in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        if k in os.environ:
            base_env[k] = os.environ[k]

    rows = []
    for spec in a.binaries:
        name, path = spec.split("=", 1)
        env = dict(base_env, AWS_LAMBDA_FUNCTION_NAME=name)
        start_once(name, path, env, a.timeout)  # unmeasured: loads the file into the page cache
        runs = [start_once(name, path, env, a.timeout) for _ in range(a.runs)]
        ms = [r["ms"] for r in runs]
        rss = [r["rss_kib"] / 1024 for r in runs]
        cpu = [r["cpu_ms"] for r in runs]
        rows.append(
            {
                "name": name,
                "size_mb": os.path.getsize(path) / 1e6,
                "ms_median": statistics.median(ms),
                "ms_min": min(ms),
                "ms_max": max(ms),
                "cpu_median": statistics.median(cpu),
                "rss_median": statistics.median(rss),
                "rss_max": max(rss),
                "secret_reads": sorted({r["secret_reads"] for r in runs}),
                "other": sorted({o for r in runs for o in r["other"]}),
            }
        )
    server.shutdown()

    print(f"\ncold start: exec -> first GET /runtime/invocation/next, {a.runs} starts each "
          f"(after one unmeasured), {a.arch}, Secrets Manager stubbed on loopback\n")
    print("| function | stripped size | cold start median (min-max) | CPU to first poll | peak RSS median (max) | secret reads |")
    print("|---|---|---|---|---|---|")
    ok = True
    for r in rows:
        flags = []
        if r["size_mb"] > 8:
            flags.append("size > 8 MB")
        if r["ms_median"] > 30:
            flags.append("start > 30 ms")
        if r["rss_max"] > 30:
            flags.append("RSS > 30 MB")
        ok = ok and not flags
        print(
            f"| {r['name']} | {r['size_mb']:.2f} MB | {r['ms_median']:.1f} ms "
            f"({r['ms_min']:.1f}-{r['ms_max']:.1f}) | {r['cpu_median']:.1f} ms | "
            f"{r['rss_median']:.1f} MiB ({r['rss_max']:.1f}) | "
            f"{','.join(map(str, r['secret_reads']))} |" + (f" **{'; '.join(flags)}**" if flags else "")
        )
        for o in r["other"]:
            print(f"    (also asked: {o})")
    print("\ntargets: <= 8 MB, <= 30 ms, <= 30 MB RSS: " + ("all met" if ok else "NOT all met"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

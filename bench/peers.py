#!/usr/bin/env python3
"""make bench-peers: herd beside thumbor, converted misses side by side.

The same photos (the corpus' 1280-px JPEGs), from the same stand-in origin
(demo/origin.py), under the same load: wrk with the same connections and
threads, every request a NEW URL. The unique part is in the path
(/system/media_attachments/files/RUN/THREAD/A/B/C/original/PHOTO: the
origin's folder holds symlinks 00…99 to itself, so every such path is the
same file), so nothing is a cache hit anywhere: not nginx's media cache
(keyed on the request URI), not herd's source cache (keyed on the origin
URL), not thumbor's storage (no_storage, no result storage). A converted
miss is one request that fetched the source from the origin, decoded it
and encoded the variant; the origin's request count over each measured run
is printed beside the responses to show it. herd: nginx with the shipped
Mastodon configuration in front of herd worker(s), the variant chosen by the
Accept header (AVIF: `image/avif,image/webp,*/*`, WebP: `image/webp,*/*`,
JPEG: none, from WebP sources, since herd passes a JPEG source through
to a client that asks for neither format). thumbor: its own HTTP servers on
127.0.0.1 behind an nginx of their own, the HTTP loader pointed at the
origin, unsafe URLs `/unsafe/filters:format(F)/http://origin/…`, full size
(no resize).

Settings: herd's defaults (WebP q80 method 4; AVIF libavif quality 60 =
AV1 quantizer 25, speed 8, aom, one encoder thread; JPEG q80 progressive
optimized 4:2:0). thumbor: QUALITY = WEBP_QUALITY = 80 (Pillow's WebP
method defaults to 4), AVIF_QUALITY = 60 (the same libavif quality scale),
AVIF_SPEED = 8, AVIF_CODEC = aom; Pillow's JPEG at q80 progressive,
optimized, 4:2:0 (thumbor's defaults). Pillow's AVIF encoder (Pillow's own
libavif, not Debian's) uses as many threads as cores; thumbor has no setting
for that. RESPECT_ORIENTATION on, as herd orients.

The same CPU: herd is one worker (conversions at once: one per core; two
workers, four conversions on two cores, were slower) behind one nginx
worker; thumbor is one single-process instance per core, no engine thread
pool, behind one nginx worker (least_conn, keepalive). On 2 cores 2, 3 and
4 instances converted alike, and beat one instance with
ENGINE_THREADPOOL_SIZE 2; `thumbor --processes N` was as fast only when its
N processes happened to split wrk's connections evenly. Both share the
machine with wrk and the origin. A measured run waits for the machine
to be quiet and is repeated (BENCH_RETRIES) if other processes took over 5%
of it; the "other processes" figure is printed for every run.

Output bytes and SSIM (bench/convert.py's: luma, 11x11 Gaussian, against
the decoded source) come from one extra request per photo and format to
each server after the timed runs, each a new URL too.
"""
import glob
import http.client
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import NGINX, REPO, free_port, start_nginx, stop  # noqa: E402
from convert import luma, ssim, ssimulacra2  # noqa: E402

HERD = os.environ.get("HERD_BIN", os.path.join(REPO, ".build/release/herd"))
CORPUS = os.environ.get("BENCH_CORPUS", os.path.join(REPO, "bench/out/corpus"))
OUT = os.environ.get("BENCH_OUT", os.path.join(REPO, "bench/out"))
VENV = os.environ.get("THUMBOR_VENV", os.path.join(OUT, "thumbor-venv"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "8"))
THREADS = int(os.environ.get("BENCH_WRK_THREADS", str(min(2, os.cpu_count() or 1))))
DURATION = int(os.environ.get("BENCH_SECONDS", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "3"))
HERD_WORKERS = int(os.environ.get("HERD_WORKERS", "1"))
# thumbor instances behind one nginx worker (least_conn), one process each.
# (One thumbor with --processes N shares one listening socket: which process
# accepts wrk's 8 keep-alive connections is a race, and a run where one
# process got them all converted on one core.)
THUMBOR_INSTANCES = int(os.environ.get("THUMBOR_INSTANCES", str(os.cpu_count() or 1)))
THUMBOR_PROCESSES = int(os.environ.get("THUMBOR_PROCESSES", "1"))
THUMBOR_THREADPOOL = int(os.environ.get("THUMBOR_THREADPOOL", "0"))
THUMBOR_AVIF_QUALITY = int(os.environ.get("THUMBOR_AVIF_QUALITY", "60"))
CALIBRATE = [int(q) for q in os.environ.get("BENCH_AVIF_CALIBRATION", "50 55 60 65").split()]
FORMATS = os.environ.get("BENCH_FORMATS", "avif webp jpeg").split()
ONLY = os.environ.get("BENCH_ONLY", "herd thumbor").split()
SKIP_QUALITY = bool(os.environ.get("BENCH_SKIP_QUALITY"))
# The cores may be shared (a build next door): a measured run waits for a
# quiet machine and is repeated when something else took over 5% of it.
WAIT_QUIET = int(os.environ.get("BENCH_WAIT_QUIET", "120"))
RETRIES = int(os.environ.get("BENCH_RETRIES", "2"))

# What each row asks for: herd's Accept header, thumbor's format filter, the
# Content-Type both must answer, and which sources it converts.
ROWS = {
    "avif": {"accept": "image/avif,image/webp,*/*", "type": "image/avif", "source": "jpg"},
    "webp": {"accept": "image/webp,*/*", "type": "image/webp", "source": "jpg"},
    "jpeg": {"accept": None, "type": "image/jpeg", "source": "webp"},
}
MEDIA = "/system/media_attachments/files"

WRK_SCRIPT = r"""
-- Every request a new URL: RUN/THREAD/counter in the path; no collisions
-- within a run (a counter per thread) or across runs (RUN).
local threads = {}
local next_id = 1

function setup(thread)
  thread:set("id", next_id)
  table.insert(threads, thread)
  next_id = next_id + 1
end

function init(args)
  run = tonumber(args[1])
  prefix = args[2] == "-" and "" or args[2]
  accept = args[3]
  want = args[4]
  photos = {}
  for name in string.gmatch(args[5], "[^,]+") do table.insert(photos, name) end
  -- Seeded per thread (time and thread id): LuaJIT's math.random otherwise
  -- repeats one sequence in every run.
  math.randomseed(os.time() * 1000 + id * 7919)
  offset = math.random(#photos)
  n = 0
  bad = 0
  bytes = 0
  headers = {}
  if accept ~= "-" then headers["Accept"] = accept end
end

function request()
  n = n + 1
  local photo = photos[(offset + n) % #photos + 1]
  local path = string.format("%s%s/%02d/%02d/%02d/%02d/%02d/original/%s", prefix, "__MEDIA__", run, id,
                             math.floor(n / 10000) % 100, math.floor(n / 100) % 100, n % 100, photo)
  return wrk.format("GET", path, headers)
end

function response(status, hdrs, body)
  local ctype = hdrs["Content-Type"] or hdrs["content-type"] or ""
  if status ~= 200 or string.sub(ctype, 1, #want) ~= want then
    bad = bad + 1
  else
    bytes = bytes + #body
  end
end

function done(summary, latency, requests)
  local total_bad, total_bytes = 0, 0
  for _, thread in ipairs(threads) do
    total_bad = total_bad + thread:get("bad")
    total_bytes = total_bytes + thread:get("bytes")
  end
  -- Every recorded latency (value, count), so that runs can be pooled.
  local histogram = {}
  for i = 1, #latency do
    local value, count = latency(i)
    table.insert(histogram, string.format("[%d, %d]", value, count))
  end
  local e = summary.errors
  io.write(string.format(
    'PEERS {"requests": %d, "duration_us": %d, "bad": %d, "bytes": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, "latency_us": [%s]}\n',
    summary.requests, summary.duration, total_bad, total_bytes, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.status, e.timeout, table.concat(histogram, ", ")))
end
""".replace("__MEDIA__", MEDIA)


def log(message):
    print(message, flush=True)


# --- thumbor's virtual environment ------------------------------------------

def ensure_thumbor():
    """bench/out/thumbor-venv with thumbor[extra-libs] from PyPI (reused if
    present); returns what provides AVIF there, checked by encoding one."""
    python = os.path.join(VENV, "bin", "python")
    if not os.path.exists(os.path.join(VENV, "bin", "thumbor")):
        log(f"installing thumbor[extra-libs] from PyPI into {VENV}")
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "thumbor[extra-libs]"], check=True)
    probe = r"""
import io, json, importlib.metadata as md
import PIL, PIL.features, PIL.Image
import thumbor.engines.pil as engine
PIL.Image.init()
buf = io.BytesIO()
PIL.Image.new("RGB", (64, 64), (200, 40, 40)).save(buf, "AVIF", quality=60, speed=8, codec="aom")
print(json.dumps({
    "thumbor": md.version("thumbor"), "pillow": PIL.__version__,
    "pillow-avif-plugin": md.version("pillow-avif-plugin") if any(d.metadata["Name"].lower() == "pillow-avif-plugin" for d in md.distributions()) else None,
    "avif_module": engine._avif.__name__ if engine.HAVE_AVIF else None,
    "avif_save": PIL.Image.SAVE["AVIF"].__module__,
    "libavif": PIL.features.version("avif"), "libwebp": PIL.features.version("webp"), "libjpeg": PIL.features.version("jpg"),
    "avif_bytes": len(buf.getvalue()), "avif_magic": buf.getvalue()[4:12].decode("latin-1"),
}))
"""
    info = json.loads(subprocess.run([python, "-c", probe], check=True, capture_output=True, text=True).stdout)
    if not info["avif_module"] or "ftypavif" not in info["avif_magic"]:
        raise SystemExit(f"thumbor in {VENV} cannot write AVIF: {info}")
    return info


# --- processes --------------------------------------------------------------

def wait_for(check, what, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{what} did not start")


def children(pid):
    """Every descendant of pid (thumbor's --processes forks)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(entry))
            except OSError:
                pass
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pids):
    """User + system CPU ticks of these processes (all their threads)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            pass
    return total


def machine_busy_ticks():
    """Ticks the whole machine spent not idle (/proc/stat)."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return sum(values[:8]) - values[3] - values[4]  # user…steal, minus idle and iowait (guest is in user)


def percentile(histogram, q):
    """The q-th percentile of (value, count) pairs, as wrk computes it."""
    total = sum(count for _, count in histogram)
    rank, seen = q / 100 * total, 0
    for value, count in sorted(histogram):
        seen += count
        if seen >= rank:
            return value
    return histogram[-1][0] if histogram else 0


def pool(runs):
    """Several measured runs of one server and format as one: images/s over
    their summed time, percentiles over all their latencies."""
    total = {key: sum(run[key] for run in runs) for key in
             ("good", "requests", "bad", "socket_errors", "seconds", "origin_fetches", "bytes_under_load", "cpu_s")}
    histogram = [pair for run in runs for pair in run["latency_us"]]
    good = total["good"]
    return dict(total, latency_us=histogram, runs=[run.get("images_per_s", run["good"] / run["seconds"]) for run in runs],
                images_per_s=good / total["seconds"],
                p50_ms=percentile(histogram, 50) / 1000, p99_ms=percentile(histogram, 99) / 1000,
                cpu_ms_per_image=1000 * total["cpu_s"] / good if good else 0,
                other_cpu_pct=max(run["other_cpu_pct"] for run in runs))


def is_alive_thumbor(pid):
    """pid is still one of thumbor's processes (not gone, not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return state != "Z" and b"thumbor" in f.read()
    except OSError:
        return False


def signal_if_thumbor(pid, sig):
    if is_alive_thumbor(pid):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def status_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def http_get(port, path, headers=None, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        conn.close()


class Bench:
    def __init__(self, work, photos):
        self.work = work
        self.procs = []
        self.thumbors = []
        self.thumbor_nginx = None
        self.nginx = None
        self.herd = []
        self.run_id = 0
        # The origin's files: every photo as JPEG and as a WebP source (cwebp
        # -q 90: what a remote upload may be), and 100 symlinks to the folder
        # itself so that any RUN/THREAD/A/B/C/original/PHOTO path is a photo.
        folder = os.path.join(work, "root" + MEDIA)
        os.makedirs(os.path.join(folder, "original"))
        for i in range(100):
            os.symlink(".", os.path.join(folder, f"{i:02d}"))
        self.sources = {"jpg": [], "webp": []}
        for path in photos:
            name = os.path.basename(path)
            shutil.copy(path, os.path.join(folder, "original", name))
            webp = name.rsplit(".", 1)[0] + ".webp"
            subprocess.run(["cwebp", "-quiet", "-q", "90", "-m", "4", path, "-o", os.path.join(folder, "original", webp)],
                           check=True)
            self.sources["jpg"].append(name)
            self.sources["webp"].append(webp)
        self.folder = os.path.join(folder, "original")
        port_file = os.path.join(work, "origin.port")
        self.procs.append(subprocess.Popen(
            [sys.executable, os.path.join(REPO, "demo/origin.py"), "--root", os.path.join(work, "root"), "--port-file", port_file],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(lambda: os.path.exists(port_file), "the origin")
        self.origin_port = int(open(port_file).read())
        self.origin = f"http://127.0.0.1:{self.origin_port}"
        with open(os.path.join(work, "peers.lua"), "w") as f:
            f.write(WRK_SCRIPT)

    def start_herd(self):
        sockets = [os.path.join(self.work, f"herd-{i}.sock") for i in range(HERD_WORKERS)]
        self.herd = []
        for sock in sockets:
            worker = subprocess.Popen([HERD, "--upstream", self.origin, "--bind", sock, "--set", "server.socket_mode=0666",
                                       "--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.procs.append(worker)
            self.herd.append(worker)
        for sock in sockets:
            wait_for(lambda: os.path.exists(sock), "herd")
        # scripts/render-nginx.sh writes nginx's variant map with
        # `$HERD_BIN nginx-map` when HERD_BIN is set; a binary without that
        # subcommand gets the shipped map (install/image-formats.conf).
        has_map = subprocess.run([HERD, "nginx-map"], capture_output=True).returncode == 0
        saved = os.environ.pop("HERD_BIN", None)
        if has_map:
            os.environ["HERD_BIN"] = HERD
        try:
            self.nginx, self.nginx_port = start_nginx(self.work, self.origin, sockets, "mastodon")
        finally:
            os.environ.pop("HERD_BIN", None)
            if saved is not None:
                os.environ["HERD_BIN"] = saved
        self.procs.append(self.nginx)
        if self.nginx.poll() is not None:
            raise SystemExit(f"nginx did not start on the shipped configuration (deploy/nginx): see above")

    def start_thumbor(self):
        conf = os.path.join(self.work, "thumbor.conf")
        with open(conf, "w") as f:
            f.write(f"""# Written by bench/peers.py.
LOADER = 'thumbor.loaders.http_loader'
ALLOWED_SOURCES = ['127.0.0.1']
ALLOW_UNSAFE_URL = True
# Nothing stored: every request fetches and converts.
STORAGE = 'thumbor.storages.no_storage'
RESULT_STORAGE = None
# herd's encoder settings.
QUALITY = 80
WEBP_QUALITY = 80
AVIF_QUALITY = {THUMBOR_AVIF_QUALITY}
AVIF_SPEED = 8
AVIF_CODEC = 'aom'
PROGRESSIVE_JPEG = True
PRESERVE_EXIF_INFO = False
RESPECT_ORIENTATION = True
ENGINE_THREADPOOL_SIZE = {THUMBOR_THREADPOOL}
HTTP_LOADER_MAX_CLIENTS = 64
MAX_WAIT_SECONDS_BEFORE_SERVER_SHUTDOWN = 0
MAX_WAIT_SECONDS_BEFORE_IO_SHUTDOWN = 0
""")
        ports = []
        for _ in range(THUMBOR_INSTANCES):
            port = free_port()
            self.thumbors.append(subprocess.Popen(
                [os.path.join(VENV, "bin", "thumbor"), "-i", "127.0.0.1", "-p", str(port), "-c", conf,
                 "-l", "warning", "--processes", str(THUMBOR_PROCESSES)],
                stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.work, f"thumbor-{port}.log"), "w"),
                start_new_session=True))
            ports.append(port)
        for port in ports:
            wait_for(lambda: http_get(port, "/healthcheck", timeout=2)[0] == 200, "thumbor")
        # nginx in front of the instances, as in front of herd: a request
        # goes to the instance with the fewest in flight.
        directory = os.path.join(self.work, "thumbor-nginx")
        benchlib.scratch(directory)
        self.thumbor_port = free_port()
        servers = "".join(f"server 127.0.0.1:{port};" for port in ports)
        with open(os.path.join(directory, "nginx.conf"), "w") as f:
            f.write(f"""include {directory}/scratch-main.conf;
http {{
    include {directory}/scratch-http.conf;
    access_log off;
    upstream thumbor {{ least_conn; {servers} keepalive 16; }}
    server {{
        listen 127.0.0.1:{self.thumbor_port};
        location / {{
            proxy_pass http://thumbor;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_read_timeout 60s;
        }}
    }}
}}
""")
        self.thumbor_nginx = subprocess.Popen([NGINX, "-p", directory + "/", "-c", os.path.join(directory, "nginx.conf")])
        self.procs.append(self.thumbor_nginx)
        wait_for(lambda: http_get(self.thumbor_port, "/healthcheck", timeout=2)[0] == 200, "nginx in front of thumbor")

    def thumbor_pids(self):
        """thumbor's own processes (with --processes N, the forks too)."""
        return [pid for t in self.thumbors for pid in [t.pid] + children(t.pid)]

    def all_pids(self):
        """Every process this benchmark started, nginx workers included."""
        return [pid for p in self.procs for pid in [p.pid] + children(p.pid)] + self.thumbor_pids()

    def stop(self):
        """A thumbor with --processes N does not pass SIGTERM on to its
        forks: they get their own first (they exit cleanly, and their
        parent, seeing all gone, reaps them and exits); SIGKILL to what is
        still alive after 10 s."""
        pids = self.thumbor_pids()
        for t in self.thumbors:
            for pid in children(t.pid):
                signal_if_thumbor(pid, signal.SIGTERM)
        for t in self.thumbors:
            try:
                t.wait(timeout=10 if THUMBOR_PROCESSES > 1 else 0.01)
            except subprocess.TimeoutExpired:
                t.terminate()
        deadline = time.time() + 10
        while time.time() < deadline and any(is_alive_thumbor(pid) for pid in pids):
            time.sleep(0.1)
        for pid in pids:
            signal_if_thumbor(pid, signal.SIGKILL)
        for t in self.thumbors:
            t.wait()
        stop(self.procs)

    # --- requests -------------------------------------------------------
    def prefix(self, server, fmt):
        return "-" if server == "herd" else f"/unsafe/filters:format({fmt})/{self.origin}"

    def port(self, server):
        return self.nginx_port if server == "herd" else self.thumbor_port

    def origin_requests(self):
        return json.loads(http_get(self.origin_port, "/__stats")[2])["requests"]

    def server_pids(self, server):
        """The server under test: herd's workers and nginx, or thumbor's
        instances and their nginx."""
        if server == "herd":
            return [w.pid for w in self.herd] + [self.nginx.pid] + children(self.nginx.pid)
        return self.thumbor_pids() + [self.thumbor_nginx.pid] + children(self.thumbor_nginx.pid)

    def settle(self, limit=20):
        """Waits until the servers and the origin are idle: requests wrk cut
        off at the end of a run are still being converted, and must not
        count in the next run."""
        pids = self.all_pids()
        last = cpu_ticks(pids)
        deadline = time.time() + limit
        while time.time() < deadline:
            time.sleep(0.5)
            now = cpu_ticks(pids)
            if now - last <= 0.02 * CLK_TCK:  # under 4% of a core over 0.5 s
                return
            last = now

    def quiet(self):
        """Waits (up to BENCH_WAIT_QUIET s) until processes outside this
        benchmark leave the machine alone: the cores are shared."""
        deadline = time.time() + WAIT_QUIET
        warned = False
        while True:
            busy = machine_busy_ticks()
            time.sleep(1)
            load = (machine_busy_ticks() - busy) / CLK_TCK / (os.cpu_count() or 1)
            if load < 0.1 or time.time() > deadline:
                return
            if not warned:
                log(f"  waiting for the machine: {100 * load:.0f}% busy outside this benchmark")
                warned = True

    def wrk(self, server, fmt, seconds):
        self.run_id += 1
        row = ROWS[fmt]
        self.settle()
        before = self.origin_requests()
        mine = self.server_pids(server)
        everyone = self.all_pids()
        cpu_mine, cpu_ours, busy = cpu_ticks(mine), cpu_ticks(everyone), machine_busy_ticks()
        started, own, reaped = time.time(), os.times(), resource.getrusage(resource.RUSAGE_CHILDREN)
        process = subprocess.Popen(
            ["wrk", "-t", str(THREADS), "-c", str(CONNECTIONS), "-d", f"{seconds}s", "--timeout", "30s",
             "-s", os.path.join(self.work, "peers.lua"), f"http://127.0.0.1:{self.port(server)}", "--",
             str(self.run_id), self.prefix(server, fmt), (row["accept"] or "-") if server == "herd" else "-",
             row["type"], ",".join(self.sources[row["source"]])],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stdout, stderr = process.communicate()
        now = resource.getrusage(resource.RUSAGE_CHILDREN)
        wrk_ticks = (now.ru_utime + now.ru_stime - reaped.ru_utime - reaped.ru_stime) * CLK_TCK
        elapsed = time.time() - started
        cpu_mine = cpu_ticks(mine) - cpu_mine
        own_ticks = sum(os.times()[:2]) * CLK_TCK - sum(own[:2]) * CLK_TCK
        foreign = machine_busy_ticks() - busy - (cpu_ticks(everyone) - cpu_ours) - wrk_ticks - own_ticks
        fetched = self.origin_requests() - before
        line = [l for l in stdout.splitlines() if l.startswith("PEERS ")]
        if process.returncode != 0 or not line:
            raise SystemExit(f"wrk failed ({server} {fmt}): {stdout[-500:]} {stderr[-500:]}")
        data = json.loads(line[0][6:])
        seconds = data["duration_us"] / 1e6
        good = data["requests"] - data["bad"]
        return pool([{"good": good, "requests": data["requests"], "bad": data["bad"],
                      "socket_errors": sum(data["errors"].values()) - data["errors"]["status"],
                      "seconds": seconds, "origin_fetches": fetched, "bytes_under_load": data["bytes"],
                      "latency_us": data["latency_us"],
                      # CPU of the server under test (herd: its workers and
                      # nginx), and what processes outside this benchmark used
                      # of the machine meanwhile (a build next door shows here).
                      "cpu_s": cpu_mine / CLK_TCK,
                      "other_cpu_pct": max(0.0, 100 * foreign / CLK_TCK / (elapsed * (os.cpu_count() or 1)))}])

    def one(self, server, fmt, name, tag):
        """One conversion of `name` by `server`, on a URL not used before."""
        row = ROWS[fmt]
        path = f"{MEDIA}/99/{tag:02d}/00/00/00/original/{name}"
        if server == "herd":
            status, ctype, body = http_get(self.nginx_port, path, {"Accept": row["accept"]} if row["accept"] else {})
        else:
            status, ctype, body = http_get(self.thumbor_port, f"/unsafe/filters:format({fmt})/{self.origin}{path}")
        if status != 200 or not ctype.startswith(row["type"]):
            raise SystemExit(f"{server} {fmt} {name}: {status} {ctype}")
        return body


def quality(bench, fmt, servers, lumas, tag):
    """Median bytes and SSIM over the photos, and each photo's."""
    row = ROWS[fmt]
    result = {}
    for server in servers:
        per_photo = []
        for name in bench.sources[row["source"]]:
            body = bench.one(server, fmt, name, tag)
            out = os.path.join(bench.work, f"q.{server}.{fmt}")
            with open(out, "wb") as f:
                f.write(body)
            per_photo.append({"photo": name, "bytes": len(body), "ssim": ssim(lumas[name], luma(out, bench.work)),
                              "s2": ssimulacra2(os.path.join(bench.folder, name), out)})
        result[server] = {"bytes": statistics.median(p["bytes"] for p in per_photo),
                          "ssim": statistics.median(p["ssim"] for p in per_photo),
                          "s2": statistics.median(p["s2"] for p in per_photo),
                          "ssim_mean": statistics.mean(p["ssim"] for p in per_photo), "photos": per_photo}
    return result


def calibrate(bench, lumas, tag):
    """thumbor's AVIF at several qualities (its quality() filter), to show
    where its bytes/SSIM curve sits against herd's quality 60."""
    rows = []
    for q in CALIBRATE:
        sizes, scores = [], []
        for name in bench.sources["jpg"]:
            row = ROWS["avif"]
            path = f"{MEDIA}/98/{tag + q:02d}/00/00/00/original/{name}"
            status, ctype, body = http_get(bench.thumbor_port,
                                           f"/unsafe/filters:format(avif):quality({q})/{bench.origin}{path}")
            if status != 200 or not ctype.startswith(row["type"]):
                raise SystemExit(f"thumbor avif q{q} {name}: {status} {ctype}")
            out = os.path.join(bench.work, "cal.avif")
            with open(out, "wb") as f:
                f.write(body)
            sizes.append(len(body))
            scores.append(ssim(lumas[name], luma(out, bench.work)))
        rows.append({"quality": q, "bytes": statistics.median(sizes), "ssim": statistics.median(scores),
                     "ssim_mean": statistics.mean(scores)})
    return rows


def main():
    begin = time.time()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: scripts/install-deps.sh --bench")
    photos = sorted(glob.glob(os.path.join(CORPUS, "photos", "*-1280.jpg")))
    if not photos:
        raise SystemExit(f"no photos/*-1280.jpg in {CORPUS}: ../shared/corpus/build-corpus.sh {CORPUS}")
    info = ensure_thumbor()
    version = subprocess.run([HERD, "-V"], capture_output=True, text=True).stdout.strip()
    log(__doc__.split("\n\n")[0])
    log(f"{os.cpu_count()} cores; {version} ({HERD_WORKERS} worker{'s' if HERD_WORKERS > 1 else ''}, "
        f"conversions at once = one per core each) behind nginx; thumbor {info['thumbor']} "
        f"({THUMBOR_INSTANCES} instance{'s' if THUMBOR_INSTANCES > 1 else ''} × --processes {THUMBOR_PROCESSES}, "
        f"ENGINE_THREADPOOL_SIZE {THUMBOR_THREADPOOL}, behind nginx, least_conn), Pillow {info['pillow']}: "
        f"AVIF via {info['avif_module']} (libavif {info['libavif']}; pillow-avif-plugin {info['pillow-avif-plugin']} "
        f"installed, {'used' if 'pillow_avif' in info['avif_module'] else 'not used: Pillow has AVIF built in'}), "
        f"libwebp {info['libwebp']}, libjpeg-turbo {info['libjpeg']}")
    log(f"{len(photos)} photos ({', '.join(os.path.basename(p) for p in photos)}); wrk -t{THREADS} -c{CONNECTIONS}, "
        f"{WARMUP} s warm-up, then {ROUNDS} rounds of {DURATION} s measured per server and format, in alternating order; thumbor AVIF_QUALITY {THUMBOR_AVIF_QUALITY}, AVIF_SPEED 8, aom\n")

    work = tempfile.mkdtemp(prefix="herd-bench-peers.")
    os.chmod(work, 0o755)
    bench = Bench(work, photos)
    results = {fmt: {} for fmt in FORMATS}
    memory = {}
    try:
        if "herd" in ONLY:
            bench.start_herd()
        if "thumbor" in ONLY:
            bench.start_thumbor()
        for fmt in FORMATS:
            # A warm-up each, then ROUNDS rounds alternating the order
            # (herd thumbor, thumbor herd, …): a machine that drifts slower
            # or faster during the rows weighs on both alike.
            runs = {server: [] for server in ONLY}
            bench.quiet()
            for server in ONLY:
                bench.wrk(server, fmt, WARMUP)
            for round_index in range(ROUNDS):
                for server in (ONLY if round_index % 2 == 0 else ONLY[::-1]):
                    for attempt in range(1 + RETRIES):
                        bench.quiet()
                        r = bench.wrk(server, fmt, DURATION)
                        if r["other_cpu_pct"] <= 5 or attempt == RETRIES:
                            break
                        log(f"{fmt:5} {server:8} again: other processes used {r['other_cpu_pct']:.0f}% of the machine"
                            f" ({r['images_per_s']:.1f} images/s)")
                    runs[server].append(r)
                    log(f"{fmt:5} {server:8} round {round_index + 1}: {r['images_per_s']:6.1f} images/s  p50 {r['p50_ms']:5.0f} ms"
                        f"  p99 {r['p99_ms']:5.0f} ms  {r['requests']} responses ({r['bad']} not a {ROWS[fmt]['type']} 200,"
                        f" {r['socket_errors']} socket errors), {r['origin_fetches']} origin fetches;"
                        f" {r['cpu_ms_per_image']:.0f} CPU ms/image; other processes {r['other_cpu_pct']:.0f}% of the machine")
                    if r["other_cpu_pct"] > 5:
                        log(f"  (!) something outside this benchmark used {r['other_cpu_pct']:.0f}% of the CPU during that run")
            for server in ONLY:
                results[fmt][server] = pool(runs[server])
        # Memory as the OS saw it, after every timed run.
        if "herd" in ONLY:
            memory["herd"] = [status_kib(w.pid, "VmHWM") for w in bench.herd]
            memory["herd's nginx"] = [status_kib(pid, "VmHWM") for pid in [bench.nginx.pid] + children(bench.nginx.pid)]
        if "thumbor" in ONLY:
            memory["thumbor"] = [status_kib(pid, "VmHWM") for pid in bench.thumbor_pids()]
            memory["thumbor's nginx"] = [status_kib(pid, "VmHWM") for pid in
                                         [bench.thumbor_nginx.pid] + children(bench.thumbor_nginx.pid)]

        calibration = []
        if not SKIP_QUALITY:
            log("\noutput bytes and SSIM: one more request per photo, format and server ...")
            lumas = {}
            for kind in ("jpg", "webp"):
                for name in bench.sources[kind]:
                    lumas[name] = luma(os.path.join(bench.folder, name), work)
            for index, fmt in enumerate(FORMATS):
                for server, q in quality(bench, fmt, ONLY, lumas, tag=index + 1).items():
                    results[fmt][server].update(q)
            if "thumbor" in ONLY and CALIBRATE and "avif" in FORMATS:
                calibration = calibrate(bench, lumas, tag=0)
    finally:
        bench.stop()
        shutil.rmtree(work, ignore_errors=True)

    print_table(results, memory, calibration)
    summary = {
        "cores": os.cpu_count(), "herd": version, "herd_workers": HERD_WORKERS, "thumbor": info,
        "thumbor_instances": THUMBOR_INSTANCES, "thumbor_processes": THUMBOR_PROCESSES, "thumbor_threadpool": THUMBOR_THREADPOOL,
        "thumbor_avif_quality": THUMBOR_AVIF_QUALITY, "connections": CONNECTIONS, "wrk_threads": THREADS,
        "seconds": DURATION, "rounds": ROUNDS, "warmup": WARMUP, "photos": [os.path.basename(p) for p in photos],
        "results": {fmt: {server: {k: v for k, v in r.items() if k != "latency_us"} for server, r in servers.items()}
                    for fmt, servers in results.items()},
        "peak_rss_kib": memory, "thumbor_avif_calibration": calibration,
        "elapsed_s": time.time() - begin,
    }
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "peers.json"), "w") as f:
        json.dump(summary, f, indent=2)
    log(f"\nwrote {os.path.join(OUT, 'peers.json')} ({time.time() - begin:.0f} s)")


def print_table(results, memory, calibration):
    log("")
    log(f"{'format':<22} {'server':<8} | {'images/s':>8} {'p50 ms':>7} {'p99 ms':>7} | {'bytes':>7} {'SSIM':>6} {'S2':>6} | "
        f"{'CPU ms/img':>10} {'fetch/resp':>10} {'errors':>6} | {'herd/thumbor':>12}")
    passed = bool(results) and all("herd" in servers and "thumbor" in servers for servers in results.values())
    for fmt, servers in results.items():
        label = {"avif": "AVIF (from JPEG)", "webp": "WebP (from JPEG)", "jpeg": "JPEG (from WebP q90)"}[fmt]
        for server, r in servers.items():
            ratio = ""
            if server == "herd" and "thumbor" in servers:
                ratio = f"{r['images_per_s'] / servers['thumbor']['images_per_s']:.2f}x"
            byte_text = f"{r['bytes'] / 1024:6.1f}K" if "bytes" in r else "—"
            ssim_text = f"{r['ssim']:6.4f}" if "ssim" in r else "—"
            s2_text = f"{r['s2']:6.2f}" if "s2" in r else "—"
            log(f"{label:<22} {server:<8} | {r['images_per_s']:>8.1f} {r['p50_ms']:>7.0f} {r['p99_ms']:>7.0f} | "
                f"{byte_text:>7} {ssim_text:>6} {s2_text:>6} | {r['cpu_ms_per_image']:>10.0f} {r['origin_fetches'] / max(1, r['requests']):>10.2f} "
                f"{r['bad'] + r['socket_errors']:>6} | {ratio:>12}")
        if "herd" in servers and "thumbor" in servers:
            h, t = servers["herd"], servers["thumbor"]
            fast = h["images_per_s"] >= 1.5 * t["images_per_s"]
            small = "bytes" in h and h["bytes"] <= t["bytes"]
            good = "ssim" in h and h["ssim"] >= t["ssim"] - 0.001
            passed = passed and fast and small and good
            detail = ""
            if "bytes" in h and "bytes" in t:
                detail = (f" (herd/thumbor {h['bytes'] / t['bytes']:.3f})"
                          f", SSIM {'ok' if good else 'MISSED'} ({h['ssim'] - t['ssim']:+.4f})")
            log(f"{'':<22} {'':<8}   speed {'ok' if fast else 'MISSED'} "
                f"({h['images_per_s'] / t['images_per_s']:.2f}x), bytes {'ok' if small else 'MISSED'}{detail}")
    log("CPU ms/img: CPU time of the server under test per image (herd: its worker(s) + nginx; thumbor: its instances + nginx"
        "); fetch/resp: origin fetches per response in the measured runs (≥ 1: every response was a"
        " fetch and a conversion; the excess is requests wrk cut off at the end)")
    busy = [f"{fmt} {server} {r['other_cpu_pct']:.0f}%" for fmt, servers in results.items()
            for server, r in servers.items() if r["other_cpu_pct"] > 5]
    if busy:
        log("(!) other processes used the CPU during: " + ", ".join(busy) + " — those numbers are low")
    log("target: herd ≥ 1.5× thumbor's images/s for every output format, at no more bytes (median) for equal"
        " (within 0.001) or better SSIM (median) — " + ("MET" if passed else "NOT MET"))
    if memory:
        parts = []
        for name, values in memory.items():
            values = [v for v in values if v is not None]
            if values:
                parts.append(f"{name} {len(values)} process{'es' if len(values) > 1 else ''}: "
                             + " + ".join(f"{v / 1024:.0f}" for v in values) + f" = {sum(values) / 1024:.0f} MiB")
        log("peak RSS (VmHWM) after the runs: " + "; ".join(parts))
    if calibration:
        herd = results.get("avif", {}).get("herd", {})
        log("thumbor AVIF quality vs herd's quality 60 (median over the photos): "
            + "; ".join(f"q{c['quality']}: {c['bytes'] / 1024:.1f}K SSIM {c['ssim']:.4f}" for c in calibration)
            + (f" | herd: {herd['bytes'] / 1024:.1f}K SSIM {herd['ssim']:.4f}" if "bytes" in herd else ""))


if __name__ == "__main__":
    main()

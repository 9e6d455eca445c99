#!/usr/bin/env python3
"""make test-cluster (run by make test): Herd on several machines, here.

    python3 Tests/Cluster/run.py [--keep]

Network namespaces stand in for machines, joined by veth pairs to a bridge
in a namespace of their own (10.77.0.0/24; no traffic leaves the namespaces
this test creates):

    client 10.77.0.100 ──▶ edge1 10.77.0.11, edge2 10.77.0.12   (sites/edge.conf: TLS, media cache)
                               │ hash $herd_source consistent
                               ▼
            node1 10.77.0.21, node2 10.77.0.22, node3 10.77.0.23  (sites/media-node.conf + a herd worker)
                               │
                               ▼
                         origin 10.77.0.1:8000                    (demo/origin.py, Mastodon's media)

Each machine runs Debian's nginx with the shipped templates as an admin
would fill them in, and its own `herd purge-server`. Checked:

1. a burst on both edges: every source fetched from the origin once and
   converted once per variant in the whole cluster, each source served by
   one node only;
2. a node taken down under load: no request fails (one retry on the next
   node), only that node's sources move, the others stay on their nodes,
   and its sources come back when it does (time to recover measured);
3. a herd worker on TCP with server.allowed_clients: a peer outside gets
   its connection closed unanswered, an edge inside is answered;
4. one purge, as Mastodon's cache buster sends it, to one edge: no edge or
   node keeps a copy of any variant.

Prints the figures and exits 1 if a check failed. Needs root and `ip netns`;
without them it says so and exits 0 (nothing was tested).
"""
import argparse
import concurrent.futures
import gzip
import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
HERD = os.path.abspath(os.environ.get("HERD_BIN", os.path.join(REPO, ".build/release/herd")))
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SECRET = "cluster-test-purge-secret-0123456789abcdef"
HOST = "mastodon.example"
ORIGIN = "10.77.0.1"
EDGES = {"edge1": "10.77.0.11", "edge2": "10.77.0.12"}
NODES = {"node1": "10.77.0.21", "node2": "10.77.0.22", "node3": "10.77.0.23"}
CLIENT = "10.77.0.100"
ALL = dict(origin=ORIGIN, client=CLIENT, **EDGES, **NODES)
PHOTO = os.path.join(REPO, "demo/media/system/media_attachments/files/000/000/001/original/photo.jpg")
ACCEPTS = {"avif": "image/avif,image/webp,*/*", "webp": "image/webp,*/*", "orig": "*/*"}


def log(message):
    print("cluster-test: " + message, flush=True)


def source_path(index):
    """A distinct source (its own path) with the demo photo's bytes."""
    return "/system/media_attachments/files/100/%03d/%03d/original/p%d.jpg" % (index // 1000, index % 1000, index)


class Cluster:
    def __init__(self, work):
        self.work = work
        self.prefix = "hc%d" % (os.getpid() % 100000)
        self.namespaces = []
        self.processes = []  # (name, Popen)

    # -- the network ------------------------------------------------------

    def ns(self, host):
        return "%s-%s" % (self.prefix, host)

    def sh(self, *argv, check=True):
        result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if check and result.returncode != 0:
            raise RuntimeError("%s: %s" % (" ".join(argv), result.stdout))
        return result

    def build_network(self):
        lan = self.ns("lan")
        self.sh("ip", "netns", "add", lan)
        self.namespaces.append(lan)
        self.sh("ip", "-n", lan, "link", "add", "br0", "type", "bridge")
        self.sh("ip", "-n", lan, "link", "set", "br0", "up")
        for index, (host, address) in enumerate(ALL.items()):
            name = self.ns(host)
            self.sh("ip", "netns", "add", name)
            self.namespaces.append(name)
            inside, outside = "%sa%d" % (self.prefix, index), "%sb%d" % (self.prefix, index)
            self.sh("ip", "link", "add", inside, "netns", name, "type", "veth", "peer", "name", outside, "netns", lan)
            self.sh("ip", "-n", name, "link", "set", inside, "name", "eth0")
            self.sh("ip", "-n", name, "addr", "add", address + "/24", "dev", "eth0")
            self.sh("ip", "-n", name, "link", "set", "eth0", "up")
            self.sh("ip", "-n", name, "link", "set", "lo", "up")
            self.sh("ip", "-n", lan, "link", "set", outside, "master", "br0")
            self.sh("ip", "-n", lan, "link", "set", outside, "up")

    def start(self, host, name, argv, env=None):
        out = open(os.path.join(self.work, name + ".log"), "ab")
        process = subprocess.Popen(["ip", "netns", "exec", self.ns(host)] + argv, stdout=out, stderr=subprocess.STDOUT,
                                   env=dict(os.environ, **(env or {})), cwd=self.work, start_new_session=True)
        self.processes.append((name, process))
        return process

    def run_in(self, host, argv, timeout=60):
        return subprocess.run(["ip", "netns", "exec", self.ns(host)] + argv, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout)

    def nginx_master(self, host):
        try:
            with open(os.path.join(self.work, host, "nginx.pid")) as handle:
                return int(handle.read().strip())
        except (OSError, ValueError):
            return None

    def kill_nginx(self, host, how=signal.SIGTERM):
        """Stops a machine's nginx, workers included (`ip netns exec` may
        stand between Popen and nginx's master: the pid file names it)."""
        master = self.nginx_master(host)
        if master is None:
            return
        try:
            if how == signal.SIGKILL:
                # The whole process group at once: a master killed first
                # leaves its workers serving; workers killed first are
                # respawned by the master.
                os.killpg(os.getpgid(master), signal.SIGKILL)
            else:
                os.kill(master, how)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (os.path.exists("/proc/%d" % master)
                                                and "nginx" in open("/proc/%d/cmdline" % master, errors="replace").read()):
            time.sleep(0.02)
        if os.path.exists(os.path.join(self.work, host, "nginx.pid")) and how == signal.SIGKILL:
            os.remove(os.path.join(self.work, host, "nginx.pid"))

    def teardown(self):
        for host in list(EDGES) + list(NODES):
            self.kill_nginx(host)
        for name, process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 10
        for name, process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
        for name in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "delete", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    # -- the machines -----------------------------------------------------

    def start_origin(self, sources):
        root = os.path.join(self.work, "origin-root")
        shutil.copytree(os.path.join(REPO, "demo/media"), root)
        for index in sources:
            path = os.path.join(root, source_path(index).lstrip("/"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            shutil.copyfile(PHOTO, path)
        self.start("origin", "origin", ["python3", os.path.join(REPO, "demo/origin.py"), "--test-hooks", "--root", root,
                                        "--host", ORIGIN, "--private-network", "--port", "8000"])

    def render(self, host, sockets):
        directory = os.path.join(self.work, host)
        os.makedirs(directory, exist_ok=True)
        subprocess.run([os.path.join(REPO, "scripts/render-nginx.sh"), directory, "http://%s:8000" % ORIGIN] + sockets,
                       check=True, env=dict(os.environ, HERD_BIN=HERD))
        return directory

    def nginx_conf(self, directory, site):
        with open(os.path.join(directory, "site.conf"), "w") as handle:
            handle.write(site)
        with open(os.path.join(directory, "nginx.conf"), "w") as handle:
            handle.write("include %s/scratch-main.conf;\nhttp {\n    include %s/scratch-http.conf;\n"
                         "    include herd/http.conf;\n    include herd/upstreams/mastodon.conf;\n    include site.conf;\n}\n"
                         % (directory, directory))

    def start_nginx(self, host):
        directory = os.path.join(self.work, host)
        return self.start(host, host + "-nginx", [NGINX, "-p", directory + "/", "-c", os.path.join(directory, "nginx.conf")])

    def others(self, host):
        """Every other machine's nginx on the private network (purge.nodes)."""
        return ",".join("http://%s:8080" % address for name, address in {**EDGES, **NODES}.items() if name != host)

    def start_purge_server(self, host, directory, cache, workers):
        arguments = [HERD, "purge-server", "--bind", os.path.join(directory, "purge.sock"), "--set", "server.socket_mode=0666",
                     "--set", "purge.cache_dir=" + cache, "--set", "purge.nodes=" + self.others(host)]
        if workers:
            arguments += ["--set", "purge.sockets=" + ",".join(workers)]
        self.start(host, host + "-purge", arguments, env={"HERD_PURGE_SECRET": SECRET})

    def start_node(self, host, address):
        directory = os.path.join(self.work, host)
        os.makedirs(directory, exist_ok=True)
        socket_path = os.path.join(directory, "herd-0.sock")
        self.start(host, host + "-herd", [HERD, "--bind", socket_path, "--upstream", "http://%s:8000" % ORIGIN,
                                          "--set", "server.socket_mode=0666", "--threads", "4"])
        self.render(host, [socket_path])
        edges = "".join("    %s 1;\n" % edge for edge in EDGES.values())
        for name, variable in (("edges.conf", "herd_from_edge"), ("trusted-proxies.conf", "herd_trusted_proxy")):
            with open(os.path.join(directory, "herd/install", name), "w") as handle:
                handle.write("geo $realip_remote_addr $%s {\n    default 0;\n%s}\n" % (variable, edges))
        with open(os.path.join(REPO, "deploy/nginx/sites/media-node.conf")) as handle:
            site = handle.read()
        site = site.replace("10.0.0.21:8080", address + ":8080").replace("/var/log/nginx", directory)
        self.nginx_conf(directory, site)
        self.start_purge_server(host, directory, os.path.join(directory, "cache/media"), [socket_path])
        wait_for(lambda: os.path.exists(socket_path), "%s's herd worker" % host)
        self.start_nginx(host)

    def start_edge(self, host, address):
        directory = self.render(host, [os.path.join(self.work, host, "no-workers-here.sock")])
        cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                        "-subj", "/CN=" + HOST], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(os.path.join(REPO, "deploy/nginx/sites/edge.conf")) as handle:
            site = handle.read()
        servers = "".join("    server %s:8080 max_fails=2 fail_timeout=10s;\n" % node for node in NODES.values())
        site = re.sub(r"(    server 10\.0\.0\.2\d:8080[^\n]*\n)+", servers, site)
        site = (site.replace("/etc/letsencrypt/live/%s/fullchain.pem" % HOST, cert)
                .replace("/etc/letsencrypt/live/%s/privkey.pem" % HOST, key)
                .replace("/var/log/nginx", directory).replace("/var/cache/nginx-herd", os.path.join(directory, "cache"))
                .replace("listen 10.0.0.11:8080;", "listen %s:8080;" % address)
                .replace("listen 443 ssl http2;", "listen %s:443 ssl http2;" % address)
                .replace("listen 80;", "listen %s:80;" % address))
        site = "\n".join(line for line in site.split("\n") if "listen [::]" not in line)
        self.nginx_conf(directory, site)
        self.start_purge_server(host, directory, os.path.join(directory, "cache/edge-media"), [])
        self.start_nginx(host)

    # -- observing ----------------------------------------------------------

    def origin_hits(self):
        answer = self.run_in("client", ["curl", "-s", "http://%s:8000/__stats" % ORIGIN]).stdout
        return json.loads(answer)["hits"]

    def conversions(self, host):
        """herd_conversions_total of the node's worker, by format."""
        answer = fcgi(os.path.join(self.work, host, "herd-0.sock"), "/metrics")
        totals = {}
        for line in answer.get("body", "").split("\n"):
            match = re.match(r'herd_conversions_total\{([^}]*)\} (\d+)', line)
            if match:
                labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
                totals[labels.get("format")] = totals.get(labels.get("format"), 0) + int(match.group(2))
        return totals

    def edge_log(self, host):
        """The edge's access log: (uri, status, upstream addresses, cache status) per request."""
        entries = []
        path = os.path.join(self.work, host, "mastodon.access.log")
        if not os.path.exists(path):
            return entries
        pattern = re.compile(r'"(\S+) (\S+) [^"]*" (\d+) .* us=(.*?) ua=(.*?) cache=(\S+)')
        with open(path) as handle:
            for line in handle:
                match = pattern.search(line)
                if match:
                    entries.append({"method": match.group(1), "uri": match.group(2), "status": int(match.group(3)),
                                    "ua": match.group(5), "cache": match.group(6)})
        return entries

    def cached_keys(self):
        """Every cache file of every machine: the key it holds."""
        keys = []
        for host in list(EDGES) + list(NODES):
            for root, _, files in os.walk(os.path.join(self.work, host, "cache")):
                for name in files:
                    with open(os.path.join(root, name), "rb") as handle:
                        head = handle.read(4096)
                    match = re.search(rb"\nKEY: ([^\n]*)\n", head)
                    if match:
                        keys.append((host, match.group(1).decode("latin-1")))
        return keys


def wait_for(condition, what, seconds=15):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise RuntimeError("%s did not start in %d s" % (what, seconds))


def fcgi(endpoint, path, source=None):
    sys.path.insert(0, HERE)
    import fcgi as client  # noqa: E402
    answer = client.request(endpoint, [("REQUEST_METHOD", "GET"), ("REQUEST_URI", path), ("QUERY_STRING", "")], source=source)
    return {"body": (answer or b"").decode("latin-1"), "closed_unread": answer is None}


# -- the client machine (this script again, inside the client namespace) ----

def client_main(plan_file):
    """Runs the requests of a plan and prints their outcomes as JSON."""
    with open(plan_file) as handle:
        plan = json.load(handle)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    local = threading.local()

    def send(item):
        connections = getattr(local, "connections", None)
        if connections is None:
            connections = local.connections = {}
        started = time.monotonic()
        for attempt in range(2):
            connection = connections.get(item["edge"])
            if connection is None:
                connection = connections[item["edge"]] = http.client.HTTPSConnection(item["edge"], 443, context=context, timeout=30)
            try:
                headers = dict(item.get("headers", {}), Host=HOST)
                connection.request(item.get("method", "GET"), item["path"], headers=headers)
                response = connection.getresponse()
                body = response.read()
                if response.getheader("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)  # as http.rb's auto_inflate does for Mastodon
                return {"path": item["path"], "edge": item["edge"], "status": response.status, "at": started,
                        "seconds": time.monotonic() - started, "cache": response.getheader("X-Cache-Status"),
                        "type": response.getheader("Content-Type"), "vary": response.getheader("Vary"),
                        "body": body.decode("latin-1") if item.get("keep_body") else None}
            except (http.client.HTTPException, OSError):
                connections.pop(item["edge"], None)
                if attempt == 1:
                    return {"path": item["path"], "edge": item["edge"], "status": 0, "at": started,
                            "seconds": time.monotonic() - started, "cache": None, "type": None, "vary": None}

    results = []
    if plan.get("paced"):
        # One request at a time per thread, for `seconds`, cycling through the items.
        stop_at = time.monotonic() + plan["seconds"]
        counter = {"next": 0}
        lock = threading.Lock()

        def loop():
            while time.monotonic() < stop_at:
                with lock:
                    index = counter["next"]
                    counter["next"] += 1
                item = dict(plan["items"][index % len(plan["items"])])
                item["path"] = item["path"] + ("&" if "?" in item["path"] else "?") + "n=%d" % index
                outcome = send(item)
                with lock:
                    results.append(outcome)
                time.sleep(plan.get("pause", 0))
        threads = [threading.Thread(target=loop) for _ in range(plan["threads"])]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:
        with concurrent.futures.ThreadPoolExecutor(max_workers=plan["threads"]) as pool:
            results = list(pool.map(send, plan["items"]))
    # Wall-clock for the driver: when the run started, on this machine's clock.
    print(json.dumps({"results": results, "clock": time.time() - time.monotonic()}))


def run_plan(cluster, plan, background=False):
    plan_file = os.path.join(cluster.work, "plan-%d.json" % int(time.monotonic() * 1000))
    with open(plan_file, "w") as handle:
        json.dump(plan, handle)
    argv = ["ip", "netns", "exec", cluster.ns("client"), sys.executable, os.path.abspath(__file__), "--client", plan_file]
    if background:
        return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    result = subprocess.run(argv, stdout=subprocess.PIPE, text=True, timeout=300)
    return json.loads(result.stdout)


# -- the checks ---------------------------------------------------------------

class Checks:
    def __init__(self):
        self.rows = []

    def check(self, name, ok, detail=""):
        self.rows.append((name, bool(ok), detail))
        log("%s %s%s" % ("PASS" if ok else "FAIL", name, (": " + detail) if detail else ""))

    def failed(self):
        return [row for row in self.rows if not row[1]]


def served_by(entries):
    """uri → the node that answered it (the last upstream the edge tried)."""
    by_address = {address: name for name, address in NODES.items()}
    served = {}
    for entry in entries:
        addresses = [a for a in re.findall(r"(\d+\.\d+\.\d+\.\d+):\d+", entry["ua"])]
        if addresses and addresses[-1] in by_address:
            served[entry["uri"]] = (by_address.get(addresses[-1]), [by_address.get(a) for a in addresses])
    return served


def burst(cluster, checks, sources):
    items = []
    for index in sources:
        for variant, accept in ACCEPTS.items():
            for edge in EDGES.values():
                for _ in range(8):
                    items.append({"edge": edge, "path": source_path(index), "headers": {"Accept": accept}})
    started = time.monotonic()
    outcome = run_plan(cluster, {"threads": 48, "items": items})
    seconds = time.monotonic() - started
    results = outcome["results"]
    failed = [r for r in results if r["status"] != 200]
    checks.check("burst: %d requests on two edges answered" % len(results), not failed, "%d failed" % len(failed))
    wrong_type = [r for r in results if r["status"] == 200 and r["path"] and r["type"] not in ("image/avif", "image/webp", "image/jpeg")]
    checks.check("burst: every answer an image", not wrong_type, str(wrong_type[:2]))
    hits = cluster.origin_hits()
    fetches = {source_path(index): hits.get(source_path(index), 0) for index in sources}
    checks.check("burst: one origin fetch per source in the cluster", all(count == 1 for count in fetches.values()),
                 "fetches per source: %s" % sorted(set(fetches.values())))
    conversions = {}
    for host in NODES:
        for fmt, count in cluster.conversions(host).items():
            conversions[fmt] = conversions.get(fmt, 0) + count
    checks.check("burst: one conversion per source and variant in the cluster (avif %d, webp %d for %d sources)"
                 % (conversions.get("avif", 0), conversions.get("webp", 0), len(sources)),
                 conversions.get("avif", 0) == len(sources) and conversions.get("webp", 0) == len(sources), str(conversions))
    owners = {}
    for edge in EDGES:
        for uri, (node, _) in served_by(cluster.edge_log(edge)).items():
            owners.setdefault(uri.split("?")[0], set()).add(node)
    split = {path: nodes for path, nodes in owners.items() if len(nodes) != 1}
    checks.check("burst: each source went to one node from both edges", not split and len(owners) == len(sources), str(split))
    vary = [r for r in results if r["status"] == 200 and "Accept" not in (r["vary"] or "")]
    checks.check("burst: Vary: Accept reaches the client through the edge", not vary, "%d without" % len(vary))
    return {"requests": len(results), "seconds": seconds, "origin_fetches": sum(fetches.values()), "conversions": conversions,
            "nodes_used": sorted({n for nodes in owners.values() for n in nodes})}


def node_down(cluster, checks, sources):
    """Sources' owners, then a node killed and restarted under load."""
    # Who owns what: one request per source, through edge1.
    items = [{"edge": EDGES["edge1"], "path": source_path(index) + "?owner=1", "headers": {"Accept": "*/*"}} for index in sources]
    run_plan(cluster, {"threads": 8, "items": items})
    owner = {path.split("?")[0]: node for path, (node, _) in served_by(cluster.edge_log("edge1")).items() if "owner=1" in path}
    share = {node: sum(1 for n in owner.values() if n == node) for node in NODES}
    victim = "node2"

    # Load: every source again and again, each request a new key (?n=…):
    # each is an edge miss that reaches the source's node.
    items = [{"edge": list(EDGES.values())[index % 2], "path": source_path(index) + "?load=1", "headers": {"Accept": "*/*"}}
             for index in sources]
    load = run_plan(cluster, {"paced": True, "threads": 6, "seconds": 26, "pause": 0.01, "items": items}, background=True)
    time.sleep(5)
    # The node's nginx dies (SIGKILL, master and workers): its address now
    # refuses connections, and kept-alive connections to it are reset.
    killed_at = time.time()
    cluster.kill_nginx(victim, signal.SIGKILL)
    time.sleep(8)
    restarted_at = time.time()
    cluster.start_nginx(victim)
    output, _ = load.communicate(timeout=120)
    outcome = json.loads(output)
    results = outcome["results"]
    clock = outcome["clock"]
    for result in results:
        result["wall"] = clock + result["at"]

    failed = [r for r in results if r["status"] != 200]
    checks.check("node down: %d requests under load, none failed (a request that met the dead node was retried once)"
                 % len(results), not failed, "%d failed: %s" % (len(failed), failed[:3]))
    served = {}
    for edge in EDGES:
        served.update(served_by(cluster.edge_log(edge)))
    during, after, retried = [], [], 0
    for result in results:
        node, tried = served.get(result["path"], (None, []))
        if node is None:
            continue
        if len(tried) > 1:
            retried += 1
        source = result["path"].split("?")[0]
        entry = (source, owner.get(source), node, result["wall"])
        if killed_at + 0.5 < result["wall"] < restarted_at:
            during.append(entry)
        elif result["wall"] > restarted_at:
            after.append(entry)
    stayed = [e for e in during if e[1] != victim]
    moved = [e for e in during if e[1] == victim]
    checks.check("node down: the other nodes' sources stayed where they were", all(e[1] == e[2] for e in stayed) and stayed,
                 "%d requests, %d elsewhere" % (len(stayed), sum(1 for e in stayed if e[1] != e[2])))
    checks.check("node down: the dead node's sources went to the others", moved and all(e[2] != victim for e in moved),
                 "%d requests" % len(moved))
    back = [e for e in after if e[1] == victim and e[2] == victim]
    recovered = (min(e[3] for e in back) - restarted_at) if back else None
    checks.check("node back: its sources return to it", back, "first after %.1f s" % recovered if back else "never")
    latencies = sorted(r["seconds"] for r in results if killed_at <= r["wall"] <= killed_at + 2)
    return {"share": share, "moved_share": share[victim] / max(1, len(sources)), "requests": len(results),
            "failed": len(failed), "retried": retried, "recover_seconds": recovered,
            "worst_latency_after_kill_ms": round(1000 * latencies[-1]) if latencies else None}


def tcp_refusal(cluster, checks):
    """A herd worker on TCP in node1, answering edge1 only."""
    node = NODES["node1"]
    cluster.start("node1", "node1-tcp-herd", [HERD, "--bind", "%s:9000" % node, "--upstream", "http://%s:8000" % ORIGIN,
                                              "--set", "server.allowed_clients=%s/32" % EDGES["edge1"]])
    script = os.path.join(HERE, "fcgi.py")

    def ask(host, path):
        """fcgi.py's JSON from `host`, or None while the worker does not listen yet."""
        output = cluster.run_in(host, ["python3", script, "%s:9000" % node, path]).stdout
        try:
            return json.loads(output)
        except ValueError:
            return None
    wait_for(lambda: ((ask("edge1", "/health") or {}).get("status") or "").startswith("200"), "the TCP worker")
    outsider = [ask("client", "/health") or {"closed_unread": False, "answered": -1} for _ in range(10)]
    purge = ask("client", "/system/x.png") or {"closed_unread": False, "answered": -1}
    checks.check("TCP worker: 11 connections from outside allowed_clients, zero answered, each closed unread",
                 all(o["closed_unread"] and o["answered"] == 0 for o in outsider + [purge]), str(outsider[:1]))
    inside = ask("edge1", "/metrics") or {"status": None, "body": ""}
    refused = re.search(r"herd_refused_connections_total (\d+)", inside["body"])
    checks.check("TCP worker: edge1 answered, the refusals counted", inside["status"] and inside["status"].startswith("200")
                 and refused and int(refused.group(1)) == 11, refused.group(0) if refused else inside["body"][:200])
    return {"outside_answers": sum(o["answered"] for o in outsider), "refused_counted": int(refused.group(1)) if refused else None}


def purge(cluster, checks, index):
    path = source_path(index)
    before = [key for _, key in cluster.cached_keys() if path in key]
    holders = sorted({host for host, key in cluster.cached_keys() if path in key})
    # As Mastodon's CacheBuster sends it: its Request's headers, the secret
    # in CACHE_BUSTER_SECRET_HEADER, to the file's URL on the instance.
    headers = {"User-Agent": "Mastodon/4.5.0 (http.rb/5.2.0; +https://%s/)" % HOST, "Accept-Encoding": "gzip",
               "Date": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()), "X-Herd-Purge-Secret": SECRET}
    started = time.monotonic()
    answer = run_plan(cluster, {"threads": 1, "items": [{"edge": EDGES["edge1"], "path": path, "method": "PURGE",
                                                           "headers": headers, "keep_body": True}]})["results"][0]
    seconds = time.monotonic() - started
    report = json.loads(answer["body"] or "{}")
    after = [key for _, key in cluster.cached_keys() if path in key]
    checks.check("purge: one PURGE to edge1 answered 200 with what it removed", answer["status"] == 200,
                 "%s %s" % (answer["status"], (answer["body"] or "")[:300]))
    checks.check("purge: no machine keeps a copy (%d entries on %s before)" % (len(before), ", ".join(holders)),
                 before and not after, "left: %s" % after)
    checks.check("purge: the answer counts every entry removed", report.get("removed_everywhere") == len(before),
                 "%s of %d" % (report.get("removed_everywhere"), len(before)))
    wrong = run_plan(cluster, {"threads": 1, "items": [{"edge": EDGES["edge2"], "path": source_path(index + 1), "method": "PURGE",
                                                          "headers": dict(headers, **{"X-Herd-Purge-Secret": "nope"})}]})
    checks.check("purge: a wrong secret is refused (403)", wrong["results"][0]["status"] == 403, str(wrong["results"][0]["status"]))
    again = run_plan(cluster, {"threads": 1, "items": [{"edge": EDGES["edge2"], "path": path, "headers": {"Accept": ACCEPTS["avif"]}}]})
    checks.check("purge: the next request is a miss, served again", again["results"][0]["status"] == 200
                 and again["results"][0]["cache"] == "MISS", str(again["results"][0]))
    return {"entries_before": len(before), "machines": holders, "removed_everywhere": report.get("removed_everywhere"),
            "seconds": round(seconds, 3), "nodes": [(n["node"], n.get("status"), n.get("removed")) for n in report.get("nodes", [])]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if args.client:
        return client_main(args.client)
    if os.geteuid() != 0 or not shutil.which("ip") or subprocess.run(["ip", "netns", "list"], capture_output=True).returncode != 0:
        log("SKIPPED: needs root and `ip netns` (iproute2); nothing was tested")
        return 0
    for tool in (HERD, NGINX):
        if not os.path.exists(tool):
            log("missing %s (make test builds it)" % tool)
            return 1

    work = tempfile.mkdtemp(prefix="herd-cluster-")
    cluster = Cluster(work)
    checks = Checks()
    figures = {}
    started = time.monotonic()
    burst_sources = list(range(1, 7))
    load_sources = list(range(100, 160))
    try:
        cluster.build_network()
        cluster.start_origin(burst_sources + load_sources + [200])
        for host, address in NODES.items():
            cluster.start_node(host, address)
        for host, address in EDGES.items():
            cluster.start_edge(host, address)
        for address in list(EDGES.values()):
            wait_for(lambda: cluster.run_in("client", ["curl", "-sk", "-o", "/dev/null", "https://%s/" % address]).returncode == 0,
                     "edge %s" % address)
        log("7 machines up in %.1f s (%s)" % (time.monotonic() - started, work))
        figures["burst"] = burst(cluster, checks, burst_sources)
        figures["node_down"] = node_down(cluster, checks, load_sources)
        figures["tcp"] = tcp_refusal(cluster, checks)
        figures["purge"] = purge(cluster, checks, burst_sources[0])
    except Exception as error:  # a setup failure is a failed check, with the logs to read
        checks.check("the cluster ran", False, "%s: %s\n%s" % (type(error).__name__, error, traceback.format_exc()))
        for name in sorted(os.listdir(work)):
            if name.endswith(".log"):
                with open(os.path.join(work, name), errors="replace") as handle:
                    tail = handle.read()[-1500:]
                log("--- %s ---\n%s" % (name, tail))
    finally:
        cluster.teardown()
        if not args.keep and not checks.failed():
            shutil.rmtree(work, ignore_errors=True)
    log("figures: %s" % json.dumps(figures, sort_keys=True))
    log("%d checks, %d failed, %.1f s" % (len(checks.rows), len(checks.failed()), time.monotonic() - started))
    return 1 if checks.failed() else 0


if __name__ == "__main__":
    sys.exit(main())

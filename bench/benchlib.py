"""What the Python benchmarks share: a free port, Debian's nginx started on
the shipped configuration (rendered into a scratch directory by
scripts/render-nginx.sh), and stopping what a benchmark started."""
import os
import shutil
import signal
import socket
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def render(directory, app_url, sockets):
    """Herd's nginx files into directory/herd for this run (scripts/render-nginx.sh)."""
    subprocess.run([os.path.join(REPO, "scripts/render-nginx.sh"), directory, app_url] + sockets, check=True,
                   stdout=subprocess.DEVNULL)


def scratch(directory, connections=1024):
    """The main context and temp paths of an nginx running out of directory,
    as scripts/render-nginx.sh writes them (scratch-main.conf, scratch-http.conf)."""
    subprocess.run([os.path.join(REPO, "scripts/render-nginx.sh"), "--scratch", directory], check=True,
                   env=dict(os.environ, NGINX_CONNECTIONS=str(connections)))


def start_nginx_with(directory, http_lines, connections=1024):
    """nginx on directory/nginx.conf: its own pid, logs and temp paths, and
    `http_lines` in its http {} (after render()); returns the process."""
    scratch(directory, connections)
    with open(os.path.join(directory, "nginx.conf"), "w") as f:
        f.write(f"""include {directory}/scratch-main.conf;
http {{
    include {directory}/scratch-http.conf;
    access_log off;
{http_lines}
}}
""")
    return subprocess.Popen([NGINX, "-p", directory + "/", "-c", os.path.join(directory, "nginx.conf")])


def wait_listening(ports, timeout=10):
    deadline = time.monotonic() + timeout
    for port in ports:
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("nothing listens on 127.0.0.1:%d" % port)
            time.sleep(0.05)


def start_nginx(directory, app_url, sockets, flavor, connections=1024, backlog=None):
    """nginx on 127.0.0.1 with herd/<flavor>.conf in front of `sockets`;
    returns (process, port)."""
    render(directory, app_url, sockets)
    port = free_port()
    listen = f"127.0.0.1:{port}" + (f" backlog={backlog}" if backlog else "")
    process = start_nginx_with(directory, f"""    include herd/http.conf;
    include herd/upstreams/{flavor}.conf;
    server {{ listen {listen}; include herd/{flavor}.conf; }}""", connections)
    wait_listening([port])
    return process, port


def stop(processes):
    """SIGTERM to each, last started first; SIGKILL to what does not exit in 10 s."""
    for process in reversed(processes):
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()

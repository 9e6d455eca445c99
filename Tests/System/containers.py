"""Real systemd for the system tests: a cached Debian bookworm root, booted
with systemd-nspawn as PID 1, and commands run inside it with nsenter.

The root is built once per machine with debootstrap (minbase, plus systemd,
dbus, make, Debian's nginx and the libraries herd links) and kept outside
the clone, under /var/cache/herd-system-test; each test boots a throw-away
overlay of it, so the cached root is never changed. The containers share
the host's network: the tests' own servers and clients stay on loopback
ports they chose.
"""
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time

CACHE = os.environ.get("HERD_SYSTEM_TEST_CACHE", "/var/cache/herd-system-test")
MIRROR = os.environ.get("HERD_SYSTEM_TEST_MIRROR", "http://deb.debian.org/debian")
# What every root holds besides herd's own Depends: systemd as PID 1, the
# tools the README's steps use (make for `make install`), and an nginx that
# serves the admin's site (installed before herd, as on a real server).
BASE_PACKAGES = ["systemd", "systemd-sysv", "dbus", "ca-certificates", "make", "nginx", "procps", "iproute2"]
# Bump when the way a root is made changes: a new cache key, a new root.
RECIPE = "2"


def log(message):
    print("system-test: " + message, flush=True)


def run(command, check=True, **kwargs):
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s" % (" ".join(command), result.returncode, result.stdout))
    return result


def cached_root(depends):
    """The root for these Depends (herd's package's), built if missing."""
    key = hashlib.sha256(("%s|%s|%s" % (RECIPE, MIRROR, " ".join(sorted(BASE_PACKAGES + depends)))).encode()).hexdigest()[:12]
    root = os.path.join(CACHE, "bookworm-" + key)
    if os.path.exists(os.path.join(root, ".herd-root-complete")):
        log("cached root %s" % root)
        return root
    os.makedirs(CACHE, exist_ok=True)
    building = root + ".building"
    shutil.rmtree(building, ignore_errors=True)
    started = time.monotonic()
    log("building the bookworm root %s (once per machine)" % root)
    run(["debootstrap", "--variant=minbase", "--include=" + ",".join(BASE_PACKAGES[:5]), "bookworm", building, MIRROR])
    # The rest in a chroot: no systemd runs there, so nothing is started.
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["chroot", building, "apt-get", "install", "-y", "-q", "--no-install-recommends"] + BASE_PACKAGES[5:] + depends, env=env)
    # The admin's nginx serves their own site; Debian's default one would
    # take port 80 of the host's network.
    for path in ("etc/nginx/sites-enabled/default",):
        if os.path.lexists(os.path.join(building, path)):
            os.remove(os.path.join(building, path))
    run(["chroot", building, "apt-get", "clean"])
    # A container's machine id is made at its first boot.
    open(os.path.join(building, "etc/machine-id"), "w").close()
    open(os.path.join(building, ".herd-root-complete"), "w").write(key + "\n")
    os.rename(building, root)
    log("root built in %.0f s" % (time.monotonic() - started))
    # Older roots of other keys are no longer used.
    for name in os.listdir(CACHE):
        if name.startswith("bookworm-") and os.path.join(CACHE, name) != root:
            shutil.rmtree(os.path.join(CACHE, name), ignore_errors=True)
    return root


def package_names(depends_field):
    """`Depends:` of a .deb → the first alternative of each, without versions."""
    names = []
    for clause in depends_field.split(","):
        first = clause.split("|")[0].strip()
        if first:
            names.append(first.split()[0])
    return names


class Container:
    """One booted container: an overlay of a cached root, systemd as PID 1."""

    def __init__(self, name, root, binds=()):
        self.name = name
        self.scratch = tempfile.mkdtemp(prefix="herd-system-%s-" % name, dir="/var/tmp")
        self.tree = os.path.join(self.scratch, "tree")
        for part in ("upper", "work", "tree"):
            os.makedirs(os.path.join(self.scratch, part))
        run(["mount", "-t", "overlay", "overlay", "-o",
             "lowerdir=%s,upperdir=%s/upper,workdir=%s/work" % (root, self.scratch, self.scratch), self.tree])
        self.console = open(os.path.join(self.scratch, "console.log"), "w")
        command = ["systemd-nspawn", "--keep-unit", "--register=no", "--quiet", "--console=read-only",
                   "-D", self.tree, "-b", "--machine=" + name]
        for source, target in binds:
            command.append("--bind-ro=%s:%s" % (source, target))
        self.nspawn = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self.console, stderr=subprocess.STDOUT)
        self.pid1 = self._find_init()
        # Up when systemd says so ("running", or "degraded" with a failed unit).
        state = self.sh("systemctl is-system-running --wait", check=False).stdout.strip()
        log("container %s booted (PID 1 is %d on the host): %s" % (name, self.pid1, state))
        if state not in ("running", "degraded"):
            raise RuntimeError("container %s did not boot: %s\n%s" % (name, state, self.console_log()))

    def _find_init(self):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.nspawn.poll() is not None:
                raise RuntimeError("systemd-nspawn exited: %s" % self.console_log())
            children = run(["pgrep", "-P", str(self.nspawn.pid)], check=False).stdout.split()
            for child in children:
                try:
                    if open("/proc/%s/comm" % child).read().strip() == "systemd":
                        # Wait until systemctl reaches it (its private bus).
                        state = run(["nsenter", "-t", child, "-a", "-r", "-w", "systemctl", "is-system-running"],
                                    check=False).stdout.strip()
                        if state in ("initializing", "starting", "running", "degraded", "maintenance"):
                            return int(child)
                except OSError:
                    pass
            time.sleep(0.2)
        raise RuntimeError("no systemd in container %s" % self.name)

    def console_log(self):
        try:
            return open(os.path.join(self.scratch, "console.log")).read()[-4000:]
        except OSError:
            return ""

    def sh(self, script, check=True, env=None, timeout=600, stdin=subprocess.DEVNULL):
        """Runs a shell script inside (as root, in /root)."""
        environment = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                       "HOME": "/root", "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive", "TERM": "dumb"}
        environment.update(env or {})
        command = ["nsenter", "-t", str(self.pid1), "-a", "-r", "-w", "env", "-i"]
        command += ["%s=%s" % item for item in environment.items()]
        command += ["/bin/bash", "-c", "cd /root && " + script]
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                timeout=timeout, stdin=stdin)
        if check and result.returncode != 0:
            raise RuntimeError("in %s: %s\nexit %d:\n%s" % (self.name, script, result.returncode, result.stdout))
        return result

    def path(self, inside):
        """The host path of a file inside the container (the overlay's merged tree)."""
        return os.path.join(self.tree, inside.lstrip("/"))

    def host_pid(self, pid_inside):
        """The host's PID of a process known by its PID inside the container."""
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                status = open("/proc/%s/status" % entry).read()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("NSpid:"):
                    ids = line.split()[1:]
                    if len(ids) >= 2 and ids[-1] == str(pid_inside) and self._in_container(entry):
                        return int(entry)
        return None

    def _in_container(self, pid):
        try:
            return os.readlink("/proc/%s/ns/pid" % pid) == os.readlink("/proc/%d/ns/pid" % self.pid1)
        except OSError:
            return False

    def stop(self):
        if self.nspawn.poll() is None:
            self.nspawn.send_signal(signal.SIGTERM)  # nspawn asks the container's systemd to halt
            try:
                self.nspawn.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.nspawn.kill()
                self.nspawn.wait()
        self.console.close()
        for _ in range(20):
            if run(["umount", self.tree], check=False).returncode == 0:
                break
            time.sleep(0.5)
        shutil.rmtree(self.scratch, ignore_errors=True)

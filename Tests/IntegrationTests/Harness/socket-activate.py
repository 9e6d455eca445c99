#!/usr/bin/env python3
"""What systemd does for herd@N.socket + herd@N.service, for the tests:
owns a listening unix socket and runs a worker with it as descriptor 3
(LISTEN_FDS=1, LISTEN_PID=the worker's pid), for as long as this runs.

    socket-activate.py SOCKET PIDFILE -- COMMAND [ARG…]

SIGHUP restarts the worker as `systemctl restart` does: SIGTERM to the old
one, wait for it to exit, start the new one; connections that arrive
meanwhile wait in the socket's backlog. PIDFILE holds the current worker's
pid, written once it runs. SIGTERM stops the worker and exits.
"""
import os
import signal
import socket
import sys
import time


def main():
    # The test runner may start us with signals blocked: take SIGHUP/SIGTERM.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    path, pidfile = sys.argv[1], sys.argv[2]
    command = sys.argv[sys.argv.index("--") + 1:]
    if os.path.exists(path):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_mask = os.umask(0o111)
    listener.bind(path)
    os.umask(old_mask)
    listener.listen(1024)

    def start():
        pid = os.fork()
        if pid == 0:
            os.dup2(listener.fileno(), 3)
            os.set_inheritable(3, True)
            env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
            os.execve(command[0], command, env)
        with open(pidfile + ".tmp", "w") as f:
            f.write(str(pid))
        os.replace(pidfile + ".tmp", pidfile)
        return pid

    state = {"pid": start(), "restart": False, "stop": False}
    signal.signal(signal.SIGHUP, lambda *_: state.update(restart=True))
    signal.signal(signal.SIGTERM, lambda *_: state.update(stop=True))
    while True:
        if state["stop"]:
            os.kill(state["pid"], signal.SIGTERM)
            os.waitpid(state["pid"], 0)
            os.unlink(path)
            return
        if state["restart"]:
            state["restart"] = False
            os.kill(state["pid"], signal.SIGTERM)
            os.waitpid(state["pid"], 0)
            state["pid"] = start()
            continue
        try:
            pid, _ = os.waitpid(state["pid"], os.WNOHANG)
            if pid:  # the worker died on its own: start another, as Restart=on-failure does
                state["pid"] = start()
        except ChildProcessError:
            state["pid"] = start()
        time.sleep(0.05)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Loads images in headless Chromium, through the stack, and reports what it decoded.

  browser-decode.py --chromium /usr/bin/chromium --base http://127.0.0.1:PORT \
      [--page-path /about] [--timeout 22] IMAGE_PATH...

Chromium opens BASE + --page-path (any path the stack answers with HTML: the
app route of herd/mastodon.conf or akkoma.conf gives the stand-in origin's
page), so the document is same-origin with the images. Into that page it puts
one <img> per IMAGE_PATH; the browser requests each itself, with its own image
Accept header, through nginx, and herd negotiates the variant from that. Per
image it reports what the browser saw:

  decoded      img.decode() resolved and naturalWidth > 0
  width/height naturalWidth / naturalHeight
  contentType  PerformanceResourceTiming.contentType (else the DevTools
               response's MIME type)
  bytes        PerformanceResourceTiming.encodedBodySize (else the body length)
  frames       WebCodecs ImageDecoder over the very bytes the <img> received
               (taken from the DevTools Network domain): frameCount, after
               decoding every frame; null if ImageDecoder does not take the type
               (Chromium 156 takes AVIF, WebP, JPEG XL, GIF, PNG, JPEG). Not a
               canvas: Chromium's drawImage keeps drawing an animated <img>'s
               first frame.
  animated     ImageDecoder's track.animated
  error        why it did not decode (with the HTTP status when not 200), or
               why frames could not be counted; null otherwise

It prints one JSON object: {"userAgent", "imageAccept" (the Accept header the
browser sent for the first image), "images": [...]}, in IMAGE_PATH order, and
exits 0 when the browser ran, whatever the images did. It exits 2, with the
reason on stderr, when Chromium could not be started, did not answer, or the
page could not be loaded.

Chromium runs headless with a fresh --user-data-dir in a temporary directory
(removed afterwards), is driven over --remote-debugging-pipe (file
descriptors 3 and 4: NUL-terminated JSON, no port, no WebSocket), and is
stopped in every case: Browser.close, then SIGTERM and SIGKILL to its whole
process group (zygotes, GPU, network and renderers; the crashpad handlers
set up their own sessions and exit with the browser); SIGTERM, SIGINT or
SIGHUP to this script unwind through the same cleanup, and if it is killed
outright, PR_SET_PDEATHSIG takes the browser down (only the temporary
directory stays then). --timeout (default 22 s) bounds the run; stopping
takes at most 6 s more. Python 3 standard library only.
"""
import argparse
import ctypes
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse


class Failure(Exception):
    """Chromium could not be run or driven: exit 2 with this message."""


class Budget:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self, reserve=0.0):
        return max(0.0, self.end - time.monotonic() - reserve)


class DevTools:
    """The Chrome DevTools Protocol over --remote-debugging-pipe."""

    def __init__(self, to_browser, from_browser):
        self.out = os.fdopen(to_browser, "wb", buffering=0)
        self.inp = os.fdopen(from_browser, "rb", buffering=0)
        self.lock = threading.Condition()
        self.replies = {}
        self.events = []
        self.closed = False
        self.last_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buffer = b""
        try:
            while True:
                chunk = self.inp.read(1 << 16)
                if not chunk:
                    break
                buffer += chunk
                *messages, buffer = buffer.split(b"\0")
                with self.lock:
                    for raw in messages:
                        message = json.loads(raw)
                        if "id" in message:
                            self.replies[message["id"]] = message
                        else:
                            self.events.append(message)
                    self.lock.notify_all()
        except (OSError, ValueError):
            pass
        with self.lock:
            self.closed = True
            self.lock.notify_all()

    def call(self, method, params=None, session=None, timeout=10.0):
        with self.lock:
            self.last_id += 1
            ident = self.last_id
        message = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            self.out.write(json.dumps(message).encode() + b"\0")
        except OSError as error:
            raise Failure("Chromium's DevTools pipe closed (%s) while sending %s" % (error, method))
        deadline = time.monotonic() + timeout
        with self.lock:
            while ident not in self.replies:
                left = deadline - time.monotonic()
                if self.closed:
                    raise Failure("Chromium exited while %s was pending" % method)
                if left <= 0:
                    raise Failure("Chromium did not answer %s within %.1f s" % (method, timeout))
                self.lock.wait(left)
            reply = self.replies.pop(ident)
        if "error" in reply:
            raise Failure("%s failed: %s" % (method, reply["error"].get("message", reply["error"])))
        return reply.get("result", {})

    def wait_for(self, predicate, timeout):
        """The first event (of all received so far or later) that `predicate` accepts, or None."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                left = deadline - time.monotonic()
                if self.closed or left <= 0:
                    return None
                self.lock.wait(left)

    def snapshot(self):
        with self.lock:
            return list(self.events)


# --- scripts evaluated in the page ----------------------------------------

LOAD_IMAGES = r"""
(async (paths, timeoutMs) => {
  const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
  const parent = document.body || document.documentElement;
  const one = async path => {
    const url = new URL(path, location.origin).href;
    const result = {path, url, decoded: false, width: 0, height: 0, contentType: null, bytes: null, error: null};
    const img = document.createElement('img');
    img.src = url;
    parent.appendChild(img);
    try {
      await Promise.race([img.decode(),
                          sleep(timeoutMs).then(() => { throw new Error('not decoded within ' + timeoutMs + ' ms'); })]);
      result.decoded = img.naturalWidth > 0;
      if (!result.decoded) result.error = 'decode() resolved but naturalWidth is 0';
    } catch (error) {
      result.error = String(error && error.name ? error.name + ': ' + error.message : error);
    }
    result.width = img.naturalWidth;
    result.height = img.naturalHeight;
    for (let attempt = 0; attempt < 20; attempt++) {
      const entry = performance.getEntriesByName(url, 'resource').pop();
      if (entry) {
        result.contentType = entry.contentType || null;
        result.bytes = entry.encodedBodySize || null;
        result.status = entry.responseStatus || null;
        break;
      }
      await sleep(50);
    }
    return result;
  };
  return Promise.all(paths.map(one));
})(%(paths)s, %(timeout)d)
"""

COUNT_FRAMES = r"""
(async (base64, type, timeoutMs) => {
  const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
  const work = async () => {
    if (typeof ImageDecoder !== 'undefined' && type && await ImageDecoder.isTypeSupported(type)) {
      const data = Uint8Array.from(atob(base64), c => c.charCodeAt(0));
      const decoder = new ImageDecoder({data, type});
      try {
        await decoder.tracks.ready;
        await decoder.completed;
        const track = decoder.tracks.selectedTrack;
        // The count only counts if every frame decodes.
        for (let index = 0; index < track.frameCount; index++) {
          const frame = await decoder.decode({frameIndex: index});
          frame.image.close();
        }
        return {frames: track.frameCount, animated: track.animated, error: null};
      } finally {
        decoder.close();
      }
    }
    return {frames: null, animated: false, error: 'ImageDecoder does not take ' + type};
  };
  try {
    return await Promise.race([work(), sleep(timeoutMs).then(() => { throw new Error('frames not counted within ' + timeoutMs + ' ms'); })]);
  } catch (error) {
    return {frames: null, animated: false, error: String(error && error.name ? error.name + ': ' + error.message : error)};
  }
})(%(body)s, %(type)s, %(timeout)d)
"""


def evaluate(devtools, session, expression, timeout):
    result = devtools.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True},
                           session=session, timeout=timeout)
    if "exceptionDetails" in result:
        details = result["exceptionDetails"]
        raise Failure("script failed in the page: %s" % details.get("exception", {}).get("description", details.get("text")))
    return result["result"].get("value")


# --- Chromium ---------------------------------------------------------------

def launch(chromium, profile, port, log, state):
    """Starts Chromium in a new process group, DevTools on fds 3 (commands) and 4 (replies)."""
    commands_read, commands_write = os.pipe()
    replies_read, replies_write = os.pipe()
    libc = ctypes.CDLL(None, use_errno=True)

    def child():
        # Our ends to fds 3 and 4 (via fds >= 10, so neither overwrites the other).
        high_read = fcntl.fcntl(commands_read, fcntl.F_DUPFD, 10)
        high_write = fcntl.fcntl(replies_write, fcntl.F_DUPFD, 10)
        os.dup2(high_read, 3)
        os.dup2(high_write, 4)
        os.close(high_read)
        os.close(high_write)
        # Nothing else of ours (e.g. a pipe a test runner handed us) stays open in the browser.
        for name in os.listdir("/proc/self/fd"):
            if int(name) > 4:
                try:
                    os.set_inheritable(int(name), False)
                except OSError:
                    pass
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: gone if this script is killed outright

    arguments = [
        chromium, "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--user-data-dir=" + profile, "--remote-debugging-pipe",
        "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-extensions", "--disable-default-apps",
        "--mute-audio", "--no-proxy-server", "--explicitly-allowed-ports=%d" % port, "about:blank",
    ]
    try:
        # close_fds would close 3 and 4 after `child` put them there; `child` marks the rest close-on-exec.
        process = state["process"] = subprocess.Popen(
            arguments, stdin=subprocess.DEVNULL, stdout=log, stderr=log, close_fds=False,
            preexec_fn=child, start_new_session=True)
    except OSError as error:
        raise Failure("cannot run %s: %s" % (chromium, error))
    finally:
        os.close(commands_read)
        os.close(replies_write)
    return DevTools(commands_write, replies_read)


def stop(process, devtools):
    if process is None:
        return
    if devtools is not None and process.poll() is None:
        try:
            devtools.call("Browser.close", timeout=2)
        except Failure:
            pass
    try:
        process.wait(timeout=2)
    except subprocess.TimeoutExpired:
        pass
    # The whole group (renderer, GPU, zygote, crashpad…), whether or not the browser exited.
    def group_alive():
        process.poll()  # reap the browser itself, or it counts as alive
        try:
            os.killpg(process.pid, 0)
            return True
        except ProcessLookupError:
            return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not group_alive():
            break
        os.killpg(process.pid, sig)
        end = time.monotonic() + 1
        while group_alive() and time.monotonic() < end:
            time.sleep(0.05)


def log_tail(path, lines=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:]).strip()
    except OSError:
        return ""


# --- the run ------------------------------------------------------------

def run(args, budget, profile, log_path, state):
    port = urllib.parse.urlsplit(args.base).port or 80
    with open(log_path, "wb") as log:
        devtools = launch(args.chromium, profile, port, log, state)
    state["devtools"] = devtools
    try:
        version = devtools.call("Browser.getVersion", timeout=min(15.0, budget.left()))
    except Failure as error:
        process = state["process"]
        status = "exit status %s" % process.returncode if process.poll() is not None else "still running"
        raise Failure("%s did not start: %s (%s); Chromium's output:\n%s"
                      % (args.chromium, error, status, log_tail(log_path) or "(none)"))

    target = devtools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = devtools.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    devtools.call("Network.enable", {"maxResourceBufferSize": 64 << 20, "maxTotalBufferSize": 256 << 20}, session=session)
    devtools.call("Page.enable", session=session)

    page = args.base.rstrip("/") + args.page_path
    try:
        # Answers once the document's response has come (or the load failed).
        navigation = devtools.call("Page.navigate", {"url": page}, session=session, timeout=max(1.0, budget.left(5)))
    except Failure as error:
        raise Failure("%s did not load (%s)" % (page, error))
    if navigation.get("errorText"):
        raise Failure("Chromium could not load %s: %s" % (page, navigation["errorText"]))
    loaded = devtools.wait_for(lambda e: e.get("sessionId") == session and e.get("method") == "Page.loadEventFired",
                               timeout=max(0.5, budget.left(5)))
    if loaded is None:
        raise Failure("%s did not finish loading" % page)

    # Leave 4 s for frame counting and shutting down.
    images = evaluate(devtools, session, LOAD_IMAGES % {"paths": json.dumps(args.paths),
                                                         "timeout": int(budget.left(6) * 1000)},
                      timeout=max(1.0, budget.left(4)))

    requests = {}  # url -> request id (the last request for it), with what DevTools saw of it
    for event in devtools.snapshot():
        params = event.get("params", {})
        if event.get("method") == "Network.requestWillBeSent" and event.get("sessionId") == session:
            requests[params["request"]["url"]] = params["requestId"]

    def network(request_id, method):
        event = devtools.wait_for(lambda e: e.get("method") == method and e["params"].get("requestId") == request_id,
                                  timeout=0)
        return event["params"] if event else {}

    image_accept = None
    for image in images:
        url = image.pop("url")
        status = image.pop("status", None)
        request_id = requests.get(url)
        sent = network(request_id, "Network.requestWillBeSent").get("request", {}).get("headers", {})
        wire = network(request_id, "Network.requestWillBeSentExtraInfo").get("headers", {})
        accept = next((v for k, v in list(wire.items()) + list(sent.items()) if k.lower() == "accept"), None)
        image_accept = image_accept or accept
        response = network(request_id, "Network.responseReceived").get("response", {})
        status = status or response.get("status")
        if image["contentType"] is None and response.get("mimeType"):
            image["contentType"] = response["mimeType"]
        image["frames"], image["animated"] = None, False
        if not image["decoded"]:
            if status and status != 200:
                image["error"] = "HTTP %s (%s); %s" % (status, response.get("mimeType", "?"), image["error"])
            continue
        # Every frame, from the exact bytes the <img> got.
        done = devtools.wait_for(lambda e: e.get("method") in ("Network.loadingFinished", "Network.loadingFailed")
                                 and e["params"].get("requestId") == request_id, timeout=max(0.1, budget.left(4)))
        body = None
        if request_id and done and done["method"] == "Network.loadingFinished":
            try:
                reply = devtools.call("Network.getResponseBody", {"requestId": request_id}, session=session,
                                      timeout=max(0.5, budget.left(3)))
                body = reply["body"] if reply.get("base64Encoded") else None
            except Failure as error:
                image["error"] = "no response body from DevTools: %s" % error
        if body is None:
            image["error"] = image["error"] or "no response body from DevTools for %s" % url
            continue
        if image["bytes"] is None:
            image["bytes"] = len(body) * 3 // 4 - body[-2:].count("=")
        counted = evaluate(devtools, session, COUNT_FRAMES % {
            "body": json.dumps(body), "type": json.dumps(image["contentType"]),
            "timeout": int(max(0.5, budget.left(3)) * 1000)}, timeout=max(1.0, budget.left(2)))
        image["frames"], image["animated"] = counted["frames"], counted["animated"]
        image["error"] = counted["error"]
    keys = ("path", "decoded", "width", "height", "frames", "animated", "contentType", "bytes", "error")
    return {"userAgent": version.get("userAgent"), "imageAccept": image_accept,
            "images": [{key: image.get(key) for key in keys} for image in images]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chromium", default="chromium", help="the Chromium executable (default: chromium on PATH)")
    parser.add_argument("--base", required=True, help="the stack's origin, e.g. http://127.0.0.1:8080")
    parser.add_argument("--page-path", default="/about",
                        help="a path on BASE answered with HTML, the document the images go into (default /about)")
    parser.add_argument("--timeout", type=float, default=22.0,
                        help="seconds for the run (default 22); stopping Chromium takes at most 6 more")
    parser.add_argument("paths", nargs="+", metavar="IMAGE_PATH", help="image paths on BASE, e.g. /system/…/photo.jpg")
    args = parser.parse_args()
    if not args.page_path.startswith("/") or any(not p.startswith("/") for p in args.paths):
        parser.error("--page-path and IMAGE_PATHs must start with /")
    chromium = shutil.which(args.chromium)
    if chromium is None:
        print("browser-decode: no Chromium at %r" % args.chromium, file=sys.stderr)
        return 2
    args.chromium = chromium

    # SIGTERM/SIGHUP (a test runner giving up) unwind through `finally`, which stops Chromium.
    def interrupted(signum, _frame):
        raise Failure("interrupted by signal %d" % signum)
    stops = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
    # A test runner's thread may start us with these blocked; Chromium inherits the mask.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)
    for sig in stops:
        signal.signal(sig, interrupted)

    budget = Budget(args.timeout)
    profile = tempfile.mkdtemp(prefix="herd-browser-decode-")
    state = {"process": None, "devtools": None}
    log_path = os.path.join(profile, "chromium.log")
    try:
        report = run(args, budget, os.path.join(profile, "profile"), log_path, state)
    except Failure as error:
        message = str(error)
        process = state["process"]
        if process is not None and process.poll() is not None and "Chromium's output" not in message:
            message += "; Chromium exited (%s); its output:\n%s" % (process.returncode, log_tail(log_path))
        print("browser-decode: %s" % message, file=sys.stderr)
        return 2
    finally:
        for sig in stops:
            signal.signal(sig, signal.SIG_IGN)  # a second signal must not cut the cleanup short
        try:
            stop(state["process"], state["devtools"])
        finally:
            shutil.rmtree(profile, ignore_errors=True)
    json.dump(report, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

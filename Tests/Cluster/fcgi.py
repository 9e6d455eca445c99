#!/usr/bin/env python3
"""A minimal FastCGI client, for the cluster test: one request, its stdout.

    python3 fcgi.py HOST:PORT|/path.sock PATH [--from ADDRESS]

Prints a JSON line: {"answered": bytes of stdout, "status": the Status
header or null, "closed_unread": true when the worker closed the
connection without a single byte}. Run inside a network namespace with
`ip netns exec` to speak from that machine.
"""
import argparse
import json
import socket
import struct
import sys


def record(kind, content, request_id=1):
    return struct.pack(">BBHHBx", 1, kind, request_id, len(content), 0) + content


def pairs(params):
    out = b""
    for name, value in params:
        name, value = name.encode(), value.encode()
        for item in (name, value):
            out += bytes([len(item)]) if len(item) < 128 else struct.pack(">I", len(item) | 0x80000000)
        out += name + value
    return out


def request(endpoint, params, source=None, timeout=5.0):
    """stdout bytes, or None when the peer closed without answering."""
    if endpoint.startswith("/"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target = endpoint
    else:
        host, port = endpoint.rsplit(":", 1)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if source:
            sock.bind((source, 0))
        target = (host, int(port))
    sock.settimeout(timeout)
    try:
        sock.connect(target)
        body = pairs(params)
        try:
            sock.sendall(record(1, struct.pack(">HB5x", 1, 0)) + record(4, body) + record(4, b"") + record(5, b""))
        except (BrokenPipeError, ConnectionResetError):
            return None
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                break
            received += chunk
        if not received:
            return None
        stdout = b""
        while len(received) >= 8:
            _, kind, _, length, padding = struct.unpack(">BBHHB", received[:7])
            content = received[8:8 + length]
            if kind == 6:
                stdout += content
            received = received[8 + length + padding:]
        return stdout
    finally:
        sock.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("endpoint")
    parser.add_argument("path")
    parser.add_argument("--from", dest="source")
    args = parser.parse_args()
    answer = request(args.endpoint, [("REQUEST_METHOD", "GET"), ("REQUEST_URI", args.path), ("QUERY_STRING", "")],
                     source=args.source)
    status = None
    if answer:
        for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
            if line.lower().startswith(b"status:"):
                status = line.split(b":", 1)[1].strip().decode()
    print(json.dumps({"answered": len(answer or b""), "status": status, "closed_unread": answer is None,
                      "body": (answer or b"").decode("latin-1")}))


if __name__ == "__main__":
    sys.exit(main())

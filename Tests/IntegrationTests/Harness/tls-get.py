#!/usr/bin/env python3
"""One HTTPS GET for the drop-in tests: tls-get.py PORT HOST PATH [ACCEPT].

Connects to 127.0.0.1:PORT with SNI and Host set to HOST, trusting any
certificate (the tests' own self-signed one), and prints the status, the
headers and the body's length and first bytes as JSON.
"""
import http.client
import json
import socket
import ssl
import sys

port, host, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
accept = sys.argv[4] if len(sys.argv) > 4 else "*/*"
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE


sock = socket.create_connection(("127.0.0.1", port), timeout=30)
connection = http.client.HTTPSConnection(host, port, context=context, timeout=30)
connection.sock = context.wrap_socket(sock, server_hostname=host)
connection.request("GET", path, headers={"Host": host, "Accept": accept})
response = connection.getresponse()
body = response.read()
print(json.dumps({"status": response.status, "headers": {k.lower(): v for k, v in response.getheaders()},
                  "length": len(body), "head": body[:16].hex()}))

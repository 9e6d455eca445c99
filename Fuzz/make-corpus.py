#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (Fuzz/corpus/<target>/).

The committed files are what the fuzzers start from; this script only says
where they came from, and can be run again after a parser or a fixture
changes. Text seeds come from the unit tests' tables and config.example.toml;
the images are tiny and made here: PNG and GIF byte by byte, JPEG with cjpeg,
WebP with cwebp and AVIF with avifenc (Debian: libjpeg-turbo-progs, webp,
libavif-bin), then EXIF and ICC segments spliced in by hand.

Usage: Fuzz/make-corpus.py   (from the repository root)
"""
import hashlib
import os
import re
import shutil
import struct
import subprocess
import tempfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "Fuzz", "corpus")


def write(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    directory = os.path.join(CORPUS, target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def swift_string_literals(text):
    """The "…" literals of a Swift source file, with \\r \\n \\u{…} and \\\\ unescaped."""
    out = []
    for match in re.finditer(r'"((?:[^"\\\n]|\\.)*)"', text):
        raw = match.group(1)
        raw = re.sub(r"\\u\{([0-9a-fA-F]+)\}", lambda m: chr(int(m.group(1), 16)), raw)
        raw = raw.replace("\\r", "\r").replace("\\n", "\n").replace("\\t", "\t").replace('\\"', '"').replace("\\\\", "\\")
        out.append(raw)
    return out


# MARK: URIs

def request_targets():
    with open(os.path.join(ROOT, "Tests/HerdTests/RequestTargetTests.swift"), encoding="utf-8") as f:
        literals = swift_string_literals(f.read())
    uris = {s for s in literals if s.startswith("/") or s.startswith("http") or s.startswith("media/")}
    uris |= {
        "/system/media_attachments/files/109/000/001/original/a.jpg?format=avif",
        "/media_proxy/123/original",
        "/proxy/sig/aHR0cHM6Ly9leGFtcGxlLmNvbS9hLnBuZw/a.png?name=%C3%A9",
        "/media/a%2E%2e%2E.jpg",
        "/media/caf\u00e9|x.jpg?a=%20",
        "/media/%252e%252e/x",
        "/system/cache/media_attachments/files/1/original/a.jpg",
        "/health",
        "/metrics",
    }
    for uri in sorted(uris):
        write("request-target", hashlib.sha1(uri.encode()).hexdigest()[:12], uri)


# MARK: Accept

def accepts():
    with open(os.path.join(ROOT, "Tests/Fixtures/accept-vectors.tsv"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 4 or fields[1] in ("<none>", "<empty>"):
                continue
            write("accept", fields[0], fields[1])
    # The same target reads its input as a query string for format=.
    for name, query in [("format-avif", "format=avif"), ("format-mixed", "v=3&format=webp&x=1"),
                        ("format-upper", "FORMAT=AVIF&a=b"), ("format-last-wins", "format=avif&format=gif")]:
        write("accept", name, query)


# MARK: Images

def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width, height, color_type=2, extra=b"", animated=False):
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    rows = b"".join(b"\0" + bytes((x * 40 + y * 20 + c * 60) & 0xFF for x in range(width) for c in range(channels))
                    for y in range(height))
    chunks = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)) + extra
    if animated:
        chunks += png_chunk(b"acTL", struct.pack(">II", 1, 0))
    return b"\x89PNG\r\n\x1a\n" + chunks + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b"")


FAKE_ICC = b"\0\0\0\x80fuzz" + bytes(range(120))


def gif(width, height, frames, local_tables=False, comment=False):
    out = b"GIF89a" + struct.pack("<HH", width, height) + bytes([0xF0, 0, 0])  # 2-colour global table
    out += bytes([0, 0, 0, 255, 255, 255])
    out += b"\x21\xFF\x0BNETSCAPE2.0\x03\x01\x00\x00\x00"  # loop forever
    if comment:
        out += b"\x21\xFE\x05hello\x00"
    for index in range(frames):
        out += b"\x21\xF9\x04\x04\x0A\x00\x00\x00"  # graphics control: 0.1 s
        packed = 0x80 if local_tables else 0
        out += b"\x2C" + struct.pack("<HHHH", 0, 0, width, height) + bytes([packed])
        if local_tables:
            out += bytes([255, 0, 0, 0, 0, 255])
        # LZW, minimum code size 2: clear, one pixel per code, end (a few codes is enough for a seed).
        out += b"\x02\x02\x4C\x01\x00"
    return out + b"\x3B"


def run(command, stdin=None):
    return subprocess.run(command, input=stdin, check=True, capture_output=True).stdout


def ppm(width, height):
    pixels = bytes((x * 30 + c * 80 + y * 10) & 0xFF for y in range(height) for x in range(width) for c in range(3))
    return b"P6\n%d %d\n255\n" % (width, height) + pixels


def app_segment(marker, payload):
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def exif(orientation, little):
    e = "<" if little else ">"
    tiff = (b"II" if little else b"MM") + struct.pack(e + "HI", 42, 8)
    tiff += struct.pack(e + "H", 1) + struct.pack(e + "HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(e + "I", 0)
    return app_segment(0xE1, b"Exif\0\0" + tiff)


def icc_segments(profile, chunk=60):
    parts = [profile[i:i + chunk] for i in range(0, len(profile), chunk)]
    return b"".join(app_segment(0xE2, b"ICC_PROFILE\0" + bytes([i + 1, len(parts)]) + p) for i, p in enumerate(parts))


def images():
    plain = run(["cjpeg", "-quality", "50"], ppm(8, 8))
    gray = run(["cjpeg", "-grayscale", "-quality", "50"], ppm(8, 8))
    progressive = run(["cjpeg", "-progressive", "-quality", "50"], ppm(16, 8))
    with_exif = plain[:2] + exif(6, True) + plain[2:]
    with_both = plain[:2] + exif(8, False) + icc_segments(FAKE_ICC) + plain[2:]
    jpegs = {"plain.jpg": plain, "gray.jpg": gray, "progressive.jpg": progressive,
             "exif-6-le.jpg": with_exif, "exif-8-be-icc.jpg": with_both}

    pngs = {"rgb.png": png(4, 3), "rgba.png": png(3, 2, 6), "gray.png": png(2, 2, 0),
            "icc.png": png(2, 2, 2, png_chunk(b"iCCP", b"fuzz\0\0" + zlib.compress(FAKE_ICC))),
            "apng.png": png(2, 2, 6, animated=True)}
    gifs = {"one.gif": gif(2, 2, 1), "three.gif": gif(3, 2, 3, local_tables=True, comment=True),
            "87a.gif": b"GIF87a" + gif(1, 1, 1)[6:]}

    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "in.png")
        with open(source, "wb") as f:
            f.write(png(4, 4, 6))
        others = {}
        run(["cwebp", "-quiet", "-q", "50", source, "-o", os.path.join(tmp, "lossy.webp")])
        run(["cwebp", "-quiet", "-lossless", source, "-o", os.path.join(tmp, "lossless.webp")])
        run(["avifenc", "-s", "10", "--min", "30", "--max", "40", source, os.path.join(tmp, "small.avif")])
        for name in ["lossy.webp", "lossless.webp", "small.avif"]:
            with open(os.path.join(tmp, name), "rb") as f:
                others[name] = f.read()

    for name, data in jpegs.items():
        write("jpeg-segments", name, data)
        write("probe", name, data)
    write("jpeg-segments", "tiff-le", exif(3, True)[10:])
    write("jpeg-segments", "tiff-be", exif(5, False)[10:])
    for name, data in pngs.items():
        write("png-chunks", name, data)
        write("probe", name, data)
    for name, data in gifs.items():
        write("gif-structure", name, data)
        write("probe", name, data)
    for name, data in others.items():
        write("probe", name, data)


# MARK: Configuration

CONFIG_VALUES = [
    "30", "2.5", "500ms", "0.1s", " 7 ", "-1", "16MB", "512KB", "1G", "16MiB", "1.5M", "0660", "0o660", "true",
    "FALSE", "yes", "off", "unix:/run/herd/herd-1.sock", "/run/herd/herd-1.sock", "./herd.sock", "[::1]:9000",
    "127.0.0.1:9000", "localhost:0", "https://mastodon.example", "http://127.0.0.1:3000/base", "herd", "herd/1.0",
    "info", "warning", "aom", "svt", "", "9223372036854775807", "1e3", "nan", "inf",
]


def configs():
    for index, value in enumerate(CONFIG_VALUES):
        write("config-value", "value-%02d" % index, value)
    with open(os.path.join(ROOT, "config.example.toml"), encoding="utf-8") as f:
        example = f.read()
    write("config-loader", "config.example.toml", example)
    # Each section alone, comments dropped: small seeds the fuzzer can recombine.
    sections = re.split(r"(?m)^(?=\[)", example)
    for section in sections:
        lines = [line for line in section.splitlines() if line and not line.startswith("#")]
        if lines and lines[0].startswith("["):
            write("config-loader", "section-" + lines[0].strip("[]"), "\n".join(lines) + "\n")
    write("config-loader", "empty.toml", "")
    write("config-loader", "inline.toml", 'upstream = { url = "https://a.example", timeout = "2.5s" }\n'
                                          'server.bind = "unix:/run/herd/herd-1.sock"\n')
    write("config-loader", "unknown-key.toml", "[image]\nquality = 80\nqualty = 70\n")
    write("config-loader", "types.toml", "[cache]\nmax_bytes = 67108864\nttl = 1.5\nsingle_flight = \"yes\"\n"
                                         "[upstream]\ntimeout = 1979-05-27T07:32:00Z\nmax_body_size = [1, 2]\n")


# MARK: Origin response heads

def response_heads():
    heads = {
        "ok": "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 3\r\nETag: \"a\"\r\n\r\n",
        "interim": "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                   "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
        "http2": "HTTP/2 204 \r\ncache-control: public, max-age=60\r\n\r\n",
        "chunked": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nVary: Accept\r\n\r\n",
        "redirect": "HTTP/1.1 302 Found\r\nLocation: https://files.example/a.jpg\r\nSet-Cookie: s=1; HttpOnly\r\n\r\n",
        "lengths": "HTTP/1.0 200 OK\nContent-Length: 5, 5\ncontent-length: 5\n\n",
        "conflict": "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "folded": "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\n\r\n",
        "controls": "HTTP/1.1 200 OK\r\nX-A: a\rb\r\nX-B:\tc\x00\r\n\r\n",
        "bad-status": "HTTP/1.1 2000 OK\r\n\r\n",
    }
    for name, head in heads.items():
        write("response-head", name, head.encode("latin-1"))


# MARK: Remote URLs

def remote_urls():
    seeds = [
        "https://remote.example/media/cat%20pic.png?x=1", "http://[::ffff:127.0.0.1]:8080/a.jpg", "http://2130706433/",
        "http://0x7f.1/x", "https://user:pw@host.example/", "http://localhost./", "//cdn.example/img?id=1", "../up/a.gif",
        "?v=2", "ftp://remote.example/a", "http://a..b/", "http://bad%2eexample/", "https://r\u00e9mote.example/caf\u00e9.jpg",
        "bytes=0-99\nbytes 0-99/1000", "bytes=-10\nbytes 990-999/1000", "bytes 0-99/*", "bytes=0-9,20-29\n",
        "image/png; charset=binary", "image/png, text/html", "Audio/OGG", "W/\"abc\"", "Sun, 06 Nov 1994 08:49:37 GMT",
        "ewBfA86F2Tjm63sNjFbekqTWgzw/aHR0cHM6Ly9yZW1vdGUuZXhhbXBsZS9tZWRpYS9jYXQlMjBwaWMucG5nP3g9MQ/cat%20pic.png",
        "preview/ewBfA86F2Tjm63sNjFbekqTWgzw/aHR0cHM6Ly9yZW1vdGUuZXhhbXBsZS9tZWRpYS9jYXQlMjBwaWMucG5nP3g9MQ",
        "ba631ed546f053e57476d5423b3b48d7a54fbb62/687474703a2f2f72656d6f74652e746573742f6d656469612f612e706e67",
    ]
    for seed in seeds:
        seed = seed.encode().decode("unicode_escape").encode("latin-1").decode("utf-8")
        write("remote-url", hashlib.sha1(seed.encode()).hexdigest()[:12], seed)


def main():
    for target in ["request-target", "accept", "jpeg-segments", "png-chunks", "gif-structure", "probe",
                   "config-value", "config-loader", "response-head", "remote-url"]:
        shutil.rmtree(os.path.join(CORPUS, target), ignore_errors=True)
    request_targets()
    accepts()
    images()
    configs()
    response_heads()
    remote_urls()


if __name__ == "__main__":
    main()

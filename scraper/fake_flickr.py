"""A local stand-in for Flickr's REST API and image hosts, for tests, benchmarks and offline dry runs.

It answers ``flickr.photos.search`` as ``flickrapi`` sends it (POST, form body, OAuth 1 HMAC-SHA1 header, no
``api_key`` parameter) with Flickr's JSON shapes: ``{"photos": {...}, "stat": "ok"}`` or ``{"stat": "fail",
"code": N, "message": ...}`` with HTTP 200. It honours ``text``, ``license``, ``min/max_upload_date``, ``page`` and
``per_page``, returns at most 4,000 results per search (later pages repeat the last allowed one, as Flickr does),
drifts between strings and ints for numbers, omits some ``url_*`` sizes, and serves images under ``/img/``.

Faults are injected per API call (``api_faults``) or per image (``fault_image``). Run it by hand with
``python -m scraper.fake_flickr --photos 2000 --fault-rate 0.05`` (prints its URL and key, serves until stopped).
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import math
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlparse

import cv2
import numpy as np
from oauthlib.oauth1.rfc5849 import signature

RESULT_CAP = 4000
#: Flickr's display sizes (longest side) for the url_* extras the fake serves, scaled by ``size_scale``.
SIZE_SIDES = {"url_m": 500, "url_z": 640, "url_c": 800, "url_l": 1024}
#: Per-API-call faults: answered instead of the real result, one per call, in order.
API_FAULTS = ("500", "503", "hang", "badjson", "fail100", "fail105", "fail201", "fail10", "fail3")
#: Per-image faults. "500"/"503"/"hang" are transient when followed by "ok"; the others are permanent.
IMAGE_FAULTS = ("ok", "500", "503", "hang", "404", "truncated", "html", "html_as_jpeg", "huge", "tiny")
FAIL_MESSAGES = {100: "Invalid API Key (Key not found)", 105: "Service currently unavailable",
                 201: "Sorry, the Flickr API service is not currently available.",
                 10: "Sorry, the Flickr search API is not currently available.",
                 3: "Parameterless searches have been disabled. Please use flickr.photos.getRecent instead."}


@dataclass
class FakePhoto:
    """One photo of the fake: searchable by ``text``; ``sizes`` says which url_* extras it has."""

    id: str
    text: str
    upload: int
    owner: str = "12345678@N00"
    ownername: str = "Jane Doe"
    license: int = 4
    sizes: tuple[str, ...] = ("url_m", "url_z", "url_c")
    base: tuple[int, int] = (240, 320)      # (h, w) of the url_m image
    seed: int | None = None                 # picture content; equal seeds give the same picture
    variant: int = 0                        # >0: a re-encoded, slightly resized near-duplicate of ``seed``
    faults: list[str] = field(default_factory=list)


def make_picture(seed: int, h: int, w: int) -> np.ndarray:
    """Return a (h, w, 3) uint8 BGR picture: smooth random colour blobs plus fine texture, fixed by ``seed``."""
    r = np.random.default_rng(seed)
    base = r.uniform(0, 255, size=(6, 8, 3)).astype(np.float32)
    base = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)
    fine = r.normal(0, 12, size=(h, w, 3)).astype(np.float32)
    return np.clip(base + fine, 0, 255).astype(np.uint8)


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    """Return JPEG bytes of a BGR image."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


class FakeFlickr:
    """The fake's state: photos per search text, queued faults, and a log of the requests it received."""

    def __init__(self, api_key: str = "fake-key-0123456789abcdef", api_secret: str = "fake-secret-fedcba98",
                 cap: int = RESULT_CAP, hang_seconds: float = 2.0, image_delay: float = 0.0, seed: int = 0) -> None:
        self.api_key, self.api_secret = api_key, api_secret
        self.cap, self.hang_seconds, self.image_delay = cap, hang_seconds, image_delay
        self.photos: dict[str, FakePhoto] = {}
        self.by_text: dict[str, list[FakePhoto]] = collections.defaultdict(list)
        self.api_faults: collections.deque[str] = collections.deque()
        self.api_calls: list[dict] = []
        self.image_requests: collections.Counter[str] = collections.Counter()
        self.user_agents: set[str] = set()
        self.signature_failures = 0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], bytes] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- content ---------------------------------------------------------------------------------------------
    def add_photo(self, text: str, photo_id: str | int, upload: int, **kwargs) -> FakePhoto:
        """Add a photo found by search ``text`` (the same id may be added under several texts)."""
        photo = FakePhoto(id=str(photo_id), text=text, upload=upload, **kwargs)
        if photo.seed is None:
            photo.seed = int(photo.id) if photo.id.isdigit() else int(hashlib.sha1(photo.id.encode()).hexdigest(), 16)
        self.photos.setdefault(photo.id, photo)
        self.by_text[text].append(photo)
        return photo

    def add_photos(self, text: str, count: int, first_id: int, upload_from: int = 1_200_000_000,
                   upload_step: int = 3600, **kwargs) -> list[FakePhoto]:
        """Add ``count`` photos with consecutive ids and upload times (newest last)."""
        return [self.add_photo(text, first_id + i, upload_from + i * upload_step, **kwargs) for i in range(count)]

    def fault_image(self, photo_id: str | int, *faults: str) -> None:
        """Serve the image of ``photo_id`` with these faults, one per request; the last one then repeats."""
        for f in faults:
            if f not in IMAGE_FAULTS:
                raise ValueError(f"unknown image fault {f!r}")
        self.photos[str(photo_id)].faults = list(faults)

    def image_bytes(self, photo: FakePhoto, size: str) -> bytes:
        """Return the (cached) JPEG that ``photo`` has at ``size``."""
        key = (photo.id, size)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        scale = SIZE_SIDES[size] / SIZE_SIDES["url_m"]
        h, w = (max(8, round(s * scale)) for s in photo.base)
        picture = make_picture(photo.seed, h, w)
        if photo.variant:
            # a re-upload: resized a little, slightly brighter, recompressed harder
            picture = cv2.resize(picture, (w - 2 * photo.variant, h - 2 * photo.variant), interpolation=cv2.INTER_AREA)
            picture = cv2.convertScaleAbs(picture, alpha=1.0, beta=4)
            data = encode_jpeg(picture, quality=70)
        else:
            data = encode_jpeg(picture)
        with self._lock:
            self._cache[key] = data
        return data

    # ---- server ----------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Return the base URL (``http://127.0.0.1:PORT``)."""
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def rest_url(self) -> str:
        """Return the REST endpoint to pass as ``--api-url``."""
        return f"{self.url}/services/rest/"

    def start(self, port: int = 0) -> FakeFlickr:
        """Serve on 127.0.0.1 in a daemon thread; returns self."""
        fake = self

        class Handler(_Handler):
            state = fake

        self._server = _QuietServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-flickr",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (hanging handlers are daemon threads and end on their own)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeFlickr:
        return self.start() if self._server is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- API -------------------------------------------------------------------------------------------------
    def search(self, params: dict[str, str]) -> tuple[int, str, bytes]:
        """Return (HTTP status, content type, body) for one search call, faults applied."""
        with self._lock:
            fault = self.api_faults.popleft() if self.api_faults else None
        if fault == "hang":
            time.sleep(self.hang_seconds)
        if fault in ("500", "503"):
            return int(fault), "text/html", b"<html><body>Service Unavailable</body></html>"
        if fault == "badjson":
            return 200, "application/json", b'{"photos": {"page": 1, "pages"'
        if fault and fault.startswith("fail"):
            return self._fail(int(fault[4:]))
        if params.get("method") != "flickr.photos.search":
            return self._fail(112, f"Method \"{params.get('method')}\" not found")
        if params.get("format") != "json" or params.get("nojsoncallback") != "1":
            return self._fail(111, "Format not found")
        text = params.get("text", "")
        if not text:
            return self._fail(3)
        licenses = {int(x) for x in params.get("license", "").split(",") if x.strip().isdigit()}
        lo = int(params.get("min_upload_date", 0) or 0)
        hi = int(params.get("max_upload_date", 2**40) or 2**40)
        found = [p for p in self.by_text.get(text, [])
                 if lo <= p.upload <= hi and (not licenses or p.license in licenses)]
        per_page = min(500, max(1, int(params.get("per_page", 100))))
        page = max(1, int(params.get("page", 1)))
        total = len(found)
        pages = math.ceil(total / per_page) if total else 0
        last_allowed = max(1, math.ceil(min(total, self.cap) / per_page))
        served = min(page, last_allowed)  # Flickr repeats results past its cap instead of failing
        chunk = found[(served - 1) * per_page: served * per_page]
        extras = set(params.get("extras", "").split(","))
        body = {"photos": {"page": self._drift(page), "pages": self._drift(pages), "perpage": self._drift(per_page),
                           "total": self._drift(total),
                           "photo": [self._photo_json(p, extras) for p in chunk]},
                "stat": "ok"}
        return 200, "application/json", json.dumps(body).encode()

    def _photo_json(self, p: FakePhoto, extras: set[str]) -> dict:
        d = {"id": p.id, "owner": p.owner, "secret": "a1b2c3d4e5", "server": "65535", "farm": 66,
             "title": f"{p.text} {p.id}", "ispublic": 1, "isfriend": 0, "isfamily": 0}
        if "license" in extras:
            d["license"] = self._drift(p.license)
        if "owner_name" in extras:
            d["ownername"] = p.ownername
        if "tags" in extras:
            d["tags"] = " ".join(p.text.lower().split())
        if "o_dims" in extras and p.id[-1] in "02468":
            d["o_width"], d["o_height"] = self._drift(p.base[1] * 8), self._drift(p.base[0] * 8)
        for size in ("url_m", "url_z", "url_c", "url_l"):
            if size in extras and size in p.sizes:
                tag = size[4:]
                scale = SIZE_SIDES[size] / SIZE_SIDES["url_m"]
                d[size] = f"{self.url}/img/{p.id}_{tag}.jpg"
                d[f"height_{tag}"] = self._drift(round(p.base[0] * scale))
                d[f"width_{tag}"] = self._drift(round(p.base[1] * scale))
        return d

    def _drift(self, n: int) -> int | str:
        with self._lock:
            return str(n) if self._rng.random() < 0.5 else int(n)

    def _fail(self, code: int, message: str | None = None) -> tuple[int, str, bytes]:
        body = {"stat": "fail", "code": code, "message": message or FAIL_MESSAGES.get(code, "Unknown error")}
        return 200, "application/json", json.dumps(body).encode()

    def image(self, path: str) -> tuple[int, str, bytes]:
        """Return (status, content type, body) for ``/img/ID_SIZE.jpg``, faults applied."""
        name = path.rsplit("/", 1)[-1].removesuffix(".jpg")
        photo_id, _, tag = name.rpartition("_")
        photo = self.photos.get(photo_id)
        size = f"url_{tag}"
        if photo is None or size not in SIZE_SIDES:
            return 404, "text/html", b"<html>Not found</html>"
        with self._lock:
            n = self.image_requests[photo_id]
            self.image_requests[photo_id] += 1
            fault = (photo.faults[min(n, len(photo.faults) - 1)] if photo.faults else "ok")
        if self.image_delay:
            time.sleep(self.image_delay)
        if fault == "hang":
            time.sleep(self.hang_seconds)
            return 200, "image/jpeg", self.image_bytes(photo, size)
        if fault in ("500", "503", "404"):
            return int(fault), "text/html", b"<html><body>error</body></html>"
        if fault == "html":
            return 200, "text/html; charset=utf-8", b"<!DOCTYPE html><html><body>Photo not found</body></html>"
        if fault == "html_as_jpeg":
            return 200, "image/jpeg", b"<!DOCTYPE html><html><body>This is not a JPEG</body></html>"
        data = self.image_bytes(photo, size)
        if fault == "truncated":
            return 200, "image/jpeg", data[: len(data) * 2 // 3]
        if fault == "huge":
            return 200, "image/jpeg", data + b"\0" * (8 << 20)
        if fault == "tiny":
            return 200, "image/jpeg", encode_jpeg(make_picture(photo.seed, 12, 16))
        return 200, "image/jpeg", data

    def check_oauth(self, url: str, headers, body_pairs: list[tuple[str, str]]) -> bool:
        """Return True when the request carries our consumer key and a valid HMAC-SHA1 signature."""
        auth = headers.get("Authorization", "")
        if not auth.startswith("OAuth "):
            return False
        try:
            params = signature.collect_parameters(body=body_pairs, headers={"Authorization": auth},
                                                  exclude_oauth_signature=False)
        except Exception:  # noqa: BLE001 - a malformed header is simply not authorised
            return False
        given = dict(params)
        if given.get("oauth_consumer_key") != self.api_key:
            return False
        unsigned = [(k, v) for k, v in params if k != "oauth_signature"]
        base = signature.signature_base_string("POST", signature.base_string_uri(url),
                                               signature.normalize_parameters(unsigned))
        expected = signature.sign_hmac_sha1(base, self.api_secret, given.get("oauth_token_secret", ""))
        ok = signature.safe_string_equals(expected, given.get("oauth_signature", ""))
        if not ok:
            self.signature_failures += 1
        return ok


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)  # clients that time out and leave are expected


class _Handler(BaseHTTPRequestHandler):
    state: FakeFlickr
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, status: int, ctype: str, body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and left

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        s = self.state
        s.user_agents.add(self.headers.get("User-Agent", ""))
        length = int(self.headers.get("Content-Length", 0) or 0)
        raw = self.rfile.read(length).decode("utf-8") if length else ""
        pairs = parse_qsl(raw, keep_blank_values=True)
        params = dict(pairs)
        with s._lock:
            s.api_calls.append(params)
        if urlparse(self.path).path != "/services/rest/":
            self._send(404, "text/html", b"<html>Not found</html>")
            return
        url = f"http://{self.headers.get('Host', '')}{self.path}"
        if "api_key" in params:
            ok = params["api_key"] == s.api_key
        else:
            ok = s.check_oauth(url, self.headers, pairs)
        if not ok:
            self._send(*s._fail(100))
            return
        self._send(*s.search(params))

    def do_GET(self) -> None:  # noqa: N802
        s = self.state
        s.user_agents.add(self.headers.get("User-Agent", ""))
        path = urlparse(self.path).path
        if path.startswith("/img/"):
            self._send(*s.image(path))
        else:
            self._send(404, "text/html", b"<html>Not found</html>")


def populate(fake: FakeFlickr, photos: int, fault_rate: float, seed: int = 0,
             queries: dict[str, list[str]] | None = None) -> dict[str, int]:
    """Fill ``fake`` with ``photos`` photos spread over a few queries, a share of them faulty.

    Half the faults are transient (one 500/503/timeout, then the image) and half permanent (truncated, HTML,
    404). Returns counts: ``{"photos", "transient", "permanent"}``.
    """
    queries = queries or {"painting": ["oil painting", "watercolor painting"], "photo": ["landscape", "portrait"]}
    texts = [t for ts in queries.values() for t in ts]
    rng = random.Random(seed)
    counts = {"photos": photos, "transient": 0, "permanent": 0}
    for i in range(photos):
        text = texts[i % len(texts)]
        p = fake.add_photo(text, 10_000_000 + i, 1_300_000_000 + i * 600, base=(96, 128))
        if rng.random() < fault_rate:
            if rng.random() < 0.5:
                fake.fault_image(p.id, rng.choice(["500", "503", "hang"]), "ok")
                counts["transient"] += 1
            else:
                fake.fault_image(p.id, rng.choice(["truncated", "html", "404"]))
                counts["permanent"] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    """Serve a populated fake until stdin closes or the process is stopped."""
    p = argparse.ArgumentParser(prog="python -m scraper.fake_flickr", description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--photos", type=int, default=200)
    p.add_argument("--fault-rate", type=float, default=0.0)
    p.add_argument("--hang-seconds", type=float, default=2.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    fake = FakeFlickr(hang_seconds=args.hang_seconds, seed=args.seed).start(args.port)
    counts = populate(fake, args.photos, args.fault_rate, args.seed)
    print(json.dumps({"rest_url": fake.rest_url, "api_key": fake.api_key, "api_secret": fake.api_secret, **counts}),
          flush=True)
    try:
        sys.stdin.read()  # serve until the parent closes our stdin (or kills us)
    except KeyboardInterrupt:
        pass
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

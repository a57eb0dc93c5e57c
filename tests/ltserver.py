"""A small LanguageTool-compatible HTTP server for tests (127.0.0.1, port 0).

It speaks LanguageTool's wire format: ``POST /v2/check`` with form fields in, the JSON of
RuleMatchesAsJsonSerializer out (offsets in UTF-16 code units), ``GET /v2/info`` and
``GET /v2/languages``, plain-text ``Error: ...`` bodies with real status codes. Its
"rules" are a handful of fixed patterns so tests can count matches by hand.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

VERSION = "6.6"

# (pattern, rule id, category id, category name, issueType, message)
RULES: tuple[tuple[str, str, str, str, str, str], ...] = (
    (
        r"\b(dont|thats|wont|usefull|recieve|becuase)\b",
        "MORFOLOGIK_RULE_EN_US",
        "TYPOS",
        "Possible Typo",
        "misspelling",
        "Possible spelling mistake found.",
    ),
    (
        r"\b(he|she|it) dont\b",
        "HE_VERB_AGR",
        "GRAMMAR",
        "Grammar",
        "grammar",
        "The verb does not agree with the subject.",
    ),
    (
        r"\b(\w+) \1\b",
        "ENGLISH_WORD_REPEAT_RULE",
        "MISC",
        "Miscellaneous",
        "duplication",
        "Possible typo: you repeated a word.",
    ),
    (
        r" ,",
        "COMMA_PARENTHESIS_WHITESPACE",
        "TYPOGRAPHY",
        "Typography",
        "whitespace",
        "Don't put a space before the comma.",
    ),
    (
        r"  +",
        "WHITESPACE_RULE",
        "TYPOGRAPHY",
        "Typography",
        "whitespace",
        "Possible typo: you repeated a whitespace.",
    ),
    (
        r"\bvery very\b",
        "EN_REPEATEDWORDS_VERY",
        "STYLE",
        "Style",
        "style",
        "Consider a stronger word.",
    ),
)


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, as LanguageTool counts offsets."""
    return len(text.encode("utf-16-le")) // 2


def find_matches(text: str) -> list[dict[str, object]]:
    """The matches LanguageTool's JSON would carry for ``text``, sorted by offset."""
    matches = []
    for pattern, rule_id, cat_id, cat_name, issue, message in RULES:
        for found in re.finditer(pattern, text):
            offset = utf16_len(text[: found.start()])
            length = utf16_len(found.group(0))
            matches.append(
                {
                    "message": message,
                    "shortMessage": "",
                    "replacements": [],
                    "offset": offset,
                    "length": length,
                    "context": {
                        "text": text[max(0, found.start() - 20) : found.end() + 20],
                        "offset": min(20, found.start()),
                        "length": length,
                    },
                    "sentence": text,
                    "type": {"typeName": "UnknownWord" if cat_id == "TYPOS" else "Other"},
                    "rule": {
                        "id": rule_id,
                        "description": message,
                        "issueType": issue,
                        "category": {"id": cat_id, "name": cat_name},
                    },
                    "ignoreForIncompleteSentence": False,
                    "contextForSureMatch": 0,
                }
            )
    return sorted(matches, key=lambda m: m["offset"])  # type: ignore[arg-type,return-value]


class _Handler(BaseHTTPRequestHandler):
    server: LanguageToolTestServer

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self._leave()  # before the answer leaves: the client may send its next check at once
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, payload: object) -> None:
        self._send(200, json.dumps(payload).encode(), "application/json")

    def _error(self, status: int, text: str) -> None:
        self._send(status, f"Error: {text}".encode(), "text/plain")

    def _behave(self) -> bool:
        """Apply the configured misbehaviour; True when the request was answered."""
        mode = self.server.mode
        if mode == "slow" or self.server.delay:
            time.sleep(self.server.delay)
        elif mode == "overloaded":
            self._error(503, "Server overloaded, please try again later")
            return True
        elif mode == "rate_limited" and self.command == "POST":
            if self.server.rate_limit_times is not None:
                if self.server.rate_limit_times <= 0:
                    return False
                self.server.rate_limit_times -= 1
            body = b"Error: Too many requests"
            self.send_response(429)
            if self.server.retry_after is not None:
                self.send_header("Retry-After", self.server.retry_after)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return True
        elif mode == "drop":
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return True
        return False

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.server.requests.append(("GET", self.path, {}))
        if self._behave():
            return
        if self.path == "/v2/info":
            self._json(
                {
                    "software": {
                        "name": "LanguageTool",
                        "version": VERSION,
                        "buildDate": self.server.build_date,
                        "premium": False,
                    }
                }
            )
        elif self.path == "/v2/languages":
            self._json(
                [
                    {"name": "English (US)", "code": "en", "longCode": "en-US"},
                    {"name": "German", "code": "de", "longCode": "de-DE"},
                ]
            )
        elif self.path == "/v2/healthcheck":
            self._send(200, b"OK", "text/plain")
        else:
            self._error(404, f"unknown path {self.path}")

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        length = int(self.headers.get("Content-Length", "0"))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        self.server.requests.append(("POST", self.path, form))
        self.server.post_times.append(time.monotonic())
        with self.server.lock:
            self.server.in_flight += 1
            self.server.max_in_flight = max(self.server.max_in_flight, self.server.in_flight)
        self._counted = True
        try:
            self._check(form)
        finally:
            self._leave()

    def _leave(self) -> None:
        """This check is no longer in flight (once per request)."""
        if getattr(self, "_counted", False):
            self._counted = False
            with self.server.lock:
                self.server.in_flight -= 1

    def _check(self, form: dict[str, str]) -> None:
        if self._behave():
            return
        if self.path != "/v2/check":
            self._error(404, f"unknown path {self.path}")
            return
        if "text" in form and "data" in form:
            self._error(400, "Set only 'text' or 'data', not both")
            return
        text = form.get("text")
        if text is None or "language" not in form:
            self._error(400, "Missing 'text' or 'language' parameter")
            return
        if form.get("level", "default") not in ("default", "picky"):
            self._error(400, f"Unknown level: {form['level']}")
            return
        if utf16_len(text) > self.server.max_text_length:
            self._error(
                413, f"Your text exceeds the limit of {self.server.max_text_length} characters"
            )
            return
        self._json(
            {
                "software": {
                    "name": "LanguageTool",
                    "version": VERSION,
                    "apiVersion": 1,
                    "premium": False,
                    "status": "",
                },
                "warnings": {"incompleteResults": self.server.mode == "incomplete"},
                "language": {
                    "name": "English (US)",
                    "code": form["language"],
                    "detectedLanguage": {
                        "name": "English (US)",
                        "code": "en-US",
                        "confidence": 0.99,
                    },
                },
                "matches": find_matches(text),
            }
        )


class LanguageToolTestServer(ThreadingHTTPServer):
    """Serve until ``close``; ``mode`` switches behaviour: ok, slow, overloaded,
    rate_limited, drop, incomplete."""

    daemon_threads = True

    def __init__(self, max_text_length: int = 20_000) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = "ok"
        self.build_date = "2024-01-01"
        self.delay = 0.0
        self.retry_after: str | None = None  # Retry-After sent with 429
        self.rate_limit_times: int | None = None  # 429s before answering (None: always)
        self.post_times: list[float] = []
        self.max_text_length = max_text_length
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)

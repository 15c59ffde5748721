"""Secrets in a code snapshot: the detect-secrets scanner, with its plugins, filters and baseline.

detect-secrets (Yelp) is the scanner; this module only makes it fast enough to run on every file of every launch.
Its full scan costs about 0.15 ms a line (every plugin, every filter, on every line), which is minutes for a
5,000-file tree. So each file first goes through a *screen*: for every plugin a necessary condition of it finding
anything, checked with C-speed byte operations (substring tests, one `bytes.translate` per character class). A file
that no plugin's screen lets through cannot hold a finding of that plugin; every other file gets detect-secrets'
own complete scan (`scan_file`: transformers for YAML/INI, every filter, the inline `pragma: allowlist secret`).
A plugin without a screen (a newer detect-secrets) makes every file go to the full scan: slower, never blind.

False positives are allowed the detect-secrets way: a `.secrets.baseline` at the project root (written by
`detect-secrets scan > .secrets.baseline`, audited with `detect-secrets audit`) lists the findings that are not
secrets; its plugin and filter settings are used too. Custom plugins or filters given by a file path are refused:
the baseline comes with the code being launched, and the launcher never imports that code.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from launcher.diagnostics import LauncherError

BASELINE = ".secrets.baseline"

_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-"  # pragma: allowlist secret (the base64 alphabet)
_HEX = b"0123456789abcdefABCDEF"
_DIGITS = b"0123456789"


def _table(chars: bytes, mark: bytes = b"a", keep: bytes = b"") -> bytes:
    out = bytearray(b" " * 256)
    for c in chars:
        out[c] = mark[0]
    for c in keep:
        out[c] = c
    return bytes(out)


_T_B64 = _table(_B64)  # base64 (and every token plugin's) characters -> 'a', the rest -> ' '
_T_HEX = _table(_HEX)
_T_DIGITS = _table(_DIGITS, b"0", keep=b".")
_IPV4 = re.compile(rb"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
#: The shortest runs any screen asks for (Artifactory's AP + 9 characters; a hex string above entropy 3.0).
MIN_RUN, MIN_HEX_RUN = 11, 9
_B64_RUN = re.compile(rb"[A-Za-z0-9+/=_-]{%d,}" % MIN_RUN)
_HEX_RUN = re.compile(rb"[0-9a-fA-F]{%d,}" % MIN_HEX_RUN)


class _Corpus:
    """Every file's bytes in one buffer (NUL-separated: no screened literal or run crosses a file), so that each
    check is one C-speed pass over all files; a check returns the indexes of the files it lets through."""

    def __init__(self, datas: list[bytes]) -> None:
        self.datas = datas
        self.starts: list[int] = []
        pos = 0
        for d in datas:
            self.starts.append(pos)
            pos += len(d) + 1
        self.big = b"\0".join(datas)
        self._views: dict[str, bytes] = {}
        self._runs: dict[str, dict[int, int]] = {}

    def view(self, name: str) -> bytes:
        if name not in self._views:
            self._views[name] = {"low": lambda: self.big.lower(), "b64": lambda: self.big.translate(_T_B64),
                                 "hex": lambda: self.big.translate(_T_HEX),
                                 "digits": lambda: self.big.translate(_T_DIGITS)}[name]()
        return self._views[name]

    def _files_with(self, hay: bytes, needle: bytes, skip_run: bool = False) -> set[int]:
        import bisect

        found: set[int] = set()
        pos = hay.find(needle)
        while pos >= 0:
            i = bisect.bisect_right(self.starts, pos) - 1
            found.add(i)
            # on to the next file: one hit says enough about this one
            nxt = self.starts[i + 1] if i + 1 < len(self.starts) else len(hay)
            pos = hay.find(needle, nxt)
        return found

    def has(self, *literals: bytes) -> set[int]:
        return set().union(*(self._files_with(self.big, lit) for lit in literals))

    def has_low(self, *literals: bytes) -> set[int]:
        return set().union(*(self._files_with(self.view("low"), lit) for lit in literals))

    def _longest(self, view: str, shortest: int, pattern: re.Pattern) -> dict[int, int]:
        """File index -> its longest run of the view's characters, for the files with one of `shortest` or more
        (one pass over everything, then a regular expression over those few files only)."""
        key = f"{view}-runs"
        if key not in self._runs:
            self._runs[key] = {i: max(len(m.group()) for m in pattern.finditer(self.datas[i]))
                               for i in self._files_with(self.view(view), b"a" * shortest)}
        return self._runs[key]

    def run(self, n: int) -> set[int]:
        """Files with a run of at least n base64 characters ([A-Za-z0-9+/=_-]): every token plugin's secret is one."""
        return {i for i, longest in self._longest("b64", MIN_RUN, _B64_RUN).items() if longest >= n}

    def hex_run(self, n: int) -> set[int]:
        return {i for i, longest in self._longest("hex", MIN_HEX_RUN, _HEX_RUN).items() if longest >= n}


def _all(*conds):
    def check(c: _Corpus) -> set[int]:
        out: set[int] | None = None
        for cond in conds:
            got = cond(c) if out is None else {i for i in cond(c) if i in out}
            out = got
            if not out:
                return set()
        return out or set()
    return check


def _entropy(data: bytes) -> float:
    """Shannon entropy in bits per character, as detect-secrets computes it (an upper bound of its hex variant)."""
    counts: dict[int, int] = {}
    for c in data:
        counts[c] = counts.get(c, 0) + 1
    n = len(data)
    return -sum(k / n * math.log2(k / n) for k in counts.values())


def _high_entropy(runs, pattern: re.Pattern, limit: float, floor: int):
    # The plugin scores a quoted string of its charset; quotes are in no charset, so that string is a maximal run
    # of charset characters, and Shannon entropy is at most log2(length): shorter runs cannot pass the limit.
    min_len = math.floor(2 ** limit) + 1

    def check(c: _Corpus) -> set[int]:
        if min_len < floor:  # a baseline's low limit: shorter strings than the runs looked for can pass it
            return set(range(len(c.datas)))
        return {i for i in runs(c, min_len)
                if any(len(m.group()) >= min_len and _entropy(m.group()) > limit
                       for m in pattern.finditer(c.datas[i]))}
    return check


def _keyword_literals() -> tuple[bytes, ...]:
    from detect_secrets.plugins.keyword import DENYLIST

    out: set[bytes] = set()
    for word in DENYLIST:  # 'api_?key' -> apikey, api_key
        variants = [word]
        while any("_?" in v for v in variants):
            variants = [x for v in variants for x in (v.replace("_?", "_", 1), v.replace("_?", "", 1))]
        out.update(v.encode("utf-8") for v in variants)
    return tuple(sorted(out))


def _keywords(c: _Corpus) -> set[int]:
    # Every keyword contains one of these: one pass each over all files, then the exact words in the few hits.
    words = _keyword_literals()
    hits = c.has_low(b"key", b"pass", b"pwd", b"secret", b"contrase")
    return {i for i in hits if any(w in c.datas[i].lower() for w in words)}


def _ipv4(c: _Corpus) -> set[int]:
    return {i for i in c._files_with(c.view("digits"), b"0.0") if _IPV4.search(c.datas[i])}


def _screens(plugins) -> dict[str, object]:
    """Plugin class name -> screen(corpus) -> the files the plugin might find something in.

    Each condition is necessary for a match of the plugin's regular expressions (see their source in
    detect_secrets/plugins/): a literal every match contains, and the shortest run of secret characters."""
    limits = {type(p).__name__: p.entropy_limit for p in plugins if hasattr(p, "entropy_limit")}
    b64 = _high_entropy(lambda c, n: c.run(n), _B64_RUN, limits.get("Base64HighEntropyString", 4.5),
                        MIN_RUN)
    hexes = _high_entropy(lambda c, n: c.hex_run(n), _HEX_RUN, limits.get("HexHighEntropyString", 3.0),
                          MIN_HEX_RUN)

    def has(*lits):
        return lambda c: c.has(*lits)

    def low(*lits):
        return lambda c: c.has_low(*lits)

    def run(n):
        return lambda c: c.run(n)

    return {
        "ArtifactoryDetector": _all(run(11), has(b"AKC", b"AP")),
        "AWSKeyDetector": _all(run(20), lambda c: c.has(b"A3T", b"ABIA", b"ACCA", b"AKIA", b"ASIA")
                               | c.has_low(b"aws")),
        "AzureStorageKeyDetector": _all(run(88), has(b"AccountKey=")),
        "BasicAuthDetector": has(b"://"),
        "CloudantDetector": _all(run(24), low(b"cl")),
        "DiscordBotTokenDetector": _all(run(23), has(b".")),
        "GitHubTokenDetector": _all(run(40), has(b"_")),
        "GitLabTokenDetector": _all(run(20), has(b"gl", b"GR1348941")),
        "Base64HighEntropyString": b64,
        "HexHighEntropyString": hexes,
        "IbmCloudIamDetector": run(44),
        "IbmCosHmacDetector": run(48),
        "IPPublicDetector": _ipv4,
        "JwtTokenDetector": has(b"eyJ"),
        "KeywordDetector": _keywords,
        "MailchimpDetector": _all(run(32), has(b"-us")),
        "NpmDetector": has(b"_authToken"),
        "OpenAIDetector": _all(run(51), has(b"T3BlbkFJ")),
        "PrivateKeyDetector": has(b"PRIVATE KEY", b"PuTTY-User-Key-File-2"),
        "PypiTokenDetector": _all(run(70), has(b"pypi-")),
        "SendGridDetector": _all(run(43), has(b"SG.")),
        "SlackDetector": lambda c: c.has_low(b"xox") | c.has(b"hooks.slack.com"),
        "SoftlayerDetector": run(64),
        "SquareOAuthDetector": has(b"sq0csp-"),
        "StripeDetector": _all(run(32), has(b"k_live_")),
        "TelegramBotTokenDetector": _all(run(35), has(b":")),
        "TwilioKeyDetector": _all(run(34), has(b"AC", b"SK")),
    }


def screen(plugins, datas: list[bytes]) -> set[int]:
    """Indexes of the files that need detect-secrets' full scan: those some plugin's screen lets through (all of
    them when a plugin has no screen)."""
    known = _screens(plugins)
    if any(type(p).__name__ not in known for p in plugins):
        return set(range(len(datas)))
    corpus = _Corpus(datas)
    out: set[int] = set()
    for p in plugins:
        found = known[type(p).__name__](corpus) - out
        if found and getattr(p, "denylist", None):
            found = _confirmed(p, found, corpus)
        out |= found
    return out


def _confirmed(plugin, indexes: set[int], corpus: _Corpus) -> set[int]:
    """The files in which one of a regex plugin's own patterns matches somewhere: the plugin matches per line,
    and every match in a line is one in the whole text when '^' and '$' match at every line (MULTILINE)."""
    patterns = [re.compile(r.pattern, r.flags | re.MULTILINE) for r in plugin.denylist]
    texts = {i: corpus.datas[i].decode("utf-8", "replace") for i in indexes}
    return {i for i in indexes if any(r.search(texts[i]) for r in patterns)}


@dataclass(frozen=True)
class Finding:
    path: str  # project-relative
    line: int
    kind: str  # the plugin's secret type, e.g. "AWS Access Key"
    secret_hash: str  # detect-secrets' hashed_secret (what a baseline lists)

    def __str__(self) -> str:
        return f"{self.path}:{self.line} ({self.kind})"


class SecretScanner:
    """Scan files with detect-secrets, configured by the project's baseline (or detect-secrets' defaults)."""

    def __init__(self, project_dir: str | Path) -> None:
        self.project_dir = Path(project_dir)
        self.baseline_path = self.project_dir / BASELINE
        self.baseline = self._read_baseline()
        self.allowed = self._allowed()

    def _read_baseline(self) -> dict | None:
        if not self.baseline_path.is_file():
            return None
        try:
            data = json.loads(self.baseline_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise LauncherError(f"{BASELINE}: not a detect-secrets baseline: {exc}",
                                hint="regenerate it: detect-secrets scan > .secrets.baseline") from None
        if not isinstance(data, dict) or not isinstance(data.get("results", {}), dict):
            raise LauncherError(f"{BASELINE}: not a detect-secrets baseline (no 'results' object)",
                                hint="regenerate it: detect-secrets scan > .secrets.baseline")
        for section in ("plugins_used", "filters_used"):
            for entry in data.get(section) or []:
                path = entry.get("path") if isinstance(entry, dict) else None
                if not isinstance(entry, dict) or (path is not None and not (
                        isinstance(path, str) and path.startswith("detect_secrets.") and "://" not in path)):
                    raise LauncherError(f"{BASELINE}: {section} names a plugin or filter by file path; the "
                                        "launcher runs only detect-secrets' own plugins and filters",
                                        hint="remove the custom entry (the launcher never imports code of the "
                                             "project it uploads)")
        return data

    def _allowed(self) -> set[tuple[str, str]]:
        """(path, hashed_secret) of baseline findings not audited as real secrets."""
        allowed: set[tuple[str, str]] = set()
        for path, entries in ((self.baseline or {}).get("results") or {}).items():
            for e in entries if isinstance(entries, list) else []:
                if isinstance(e, dict) and e.get("is_secret") is not True and e.get("hashed_secret"):
                    allowed.add((str(path), str(e["hashed_secret"])))
        return allowed

    def _settings(self):
        from detect_secrets.settings import default_settings, transient_settings

        if self.baseline and (self.baseline.get("plugins_used") or self.baseline.get("filters_used")):
            config = {k: self.baseline[k] for k in ("plugins_used", "filters_used") if self.baseline.get(k)}
            return transient_settings(config)
        return default_settings()

    def scan(self, files: dict[str, tuple[Path, bytes | None]]) -> list[Finding]:
        """Findings in files: project-relative path -> (the file to read, its bytes), minus the baseline's.
        A file given without its bytes (None: too large to hold) skips the screen and gets the full scan."""
        from detect_secrets.core.scan import scan_file
        from detect_secrets.settings import get_plugins

        findings: list[Finding] = []
        # the baseline holds hashes of allowed findings, by design
        items = [(rel, full, data) for rel, (full, data) in sorted(files.items()) if rel != BASELINE]
        with self._settings():
            held = [i for i, item in enumerate(items) if item[2] is not None]
            suspects = {held[j] for j in screen(list(get_plugins()), [items[i][2] for i in held])}
            suspects |= {i for i, item in enumerate(items) if item[2] is None}
            for rel, full, _data in (items[i] for i in sorted(suspects)):
                for s in scan_file(str(full)):
                    if (rel, s.secret_hash) not in self.allowed:
                        findings.append(Finding(rel, s.line_number, s.type, s.secret_hash))
        return findings


def screened_plugins() -> tuple[list[str], list[str]]:
    """(plugin names of detect-secrets' defaults, those of them without a screen): for tests and docs."""
    from detect_secrets.settings import default_settings, get_plugins

    with default_settings():
        plugins = list(get_plugins())
        known = _screens(plugins)
    names = [type(p).__name__ for p in plugins]
    return names, [n for n in names if n not in known]

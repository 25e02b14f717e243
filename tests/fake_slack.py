"""A local HTTP server that answers like Slack's Web API, records every call, and checks Block Kit.

Point `WebClient(base_url=fake.url)` (or SLACK_API_URL) at it. It keeps channels and messages,
issues trigger_ids that expire after 3 s, can answer 429 with Retry-After, and can run a hook at
the instant a message is accepted (to kill the poster between Slack's answer and its commit).

Workspaces: once `install_codes` or `tokens` is used, it is many workspaces, as with OAuth. Each
bot token belongs to one team (`tokens`), a call with any other token is refused `invalid_auth`
(a revoked one `token_revoked`), and every message records the team whose token posted it.
`oauth.v2.access` exchanges a one-time code from `install_codes` for a new bot token, checking the
app's client id and secret (HTTP basic auth, as slack_sdk sends them).
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

TRIGGER_TTL = 3.0


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # bursts of concurrent clients must not overflow the accept backlog


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float
    team: str | None = None  # the team of the token it came with (many workspaces only)


@dataclass
class Channel:
    id: str
    public: bool = True
    member: bool = True
    exists: bool = True
    messages: list[dict[str, Any]] = field(default_factory=list)


def validate_blocks(blocks: Any) -> None:
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    if not isinstance(blocks, list) or len(blocks) > 50:
        raise ValueError("blocks must be a list of at most 50")
    for raw in blocks:
        block = Block.parse(raw)
        if block is None:
            raise ValueError(f"unknown block {raw!r}")
        block.to_dict()  # runs slack_sdk's validators (lengths, required fields)


def validate_view(view: Any) -> dict[str, Any]:
    if isinstance(view, str):
        view = json.loads(view)
    View(**view).to_dict()
    validate_blocks(view.get("blocks", []))
    return dict(view)


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.channels: dict[str, Channel] = {}
        self.invalid: list[str] = []
        self.rate_limit: dict[str, int] = {}  # method -> how many 429s to answer next
        # Slack's per-channel limit on chat.postMessage (about 1 s): a post sooner than that after the
        # channel's last one is answered 429 with Retry-After in whole seconds, as Slack does
        self.channel_interval: float | None = None
        self.last_post: dict[str, float] = {}  # channel -> when its last post was accepted
        self.throttled: Counter[str] = Counter()  # channel -> 429s answered for it
        self.delay: dict[str, float] = {}  # method -> seconds to wait before answering
        self.arrived: list[str] = []  # methods as their requests arrive (before any delay; `calls` is after)
        self.errors: dict[str, str] = {}  # method -> error code to answer once
        self.failing: dict[str, str] = {}  # method -> error code to answer every time (until removed)
        self.lose_answer: dict[str, int] = {}  # method -> how many times to act, then answer 500 anyway
        self.on_post: Callable[[dict[str, Any]], None] | None = None
        self.on_upload: Callable[[dict[str, Any]], None] | None = None  # a file shared, before the answer
        self.usergroups: dict[str, list[str]] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.homes: dict[str, list[dict[str, Any]]] = {}  # user -> every Home published, newest last
        self.uploads: dict[str, bytes] = {}  # file id -> the bytes uploaded
        self.locales: dict[str, str] = {}  # user -> Slack locale (users.info); en-US when not set
        self.tz_offsets: dict[str, int] = {}  # user -> seconds east of UTC (users.info tz_offset); 0 when not set
        self.files: list[dict[str, Any]] = []  # files shared: id, title, channel, comment
        self.unfurled: list[dict[str, Any]] = []  # chat.unfurl calls: where, and each link's unfurl
        self.responses: dict[str, list[dict[str, Any]]] = {}  # response_url path -> what was posted there
        self.top: dict[str, str] = {}  # root view id -> the view on top of its stack
        self.triggers: dict[str, float] = {}
        self.view_by_trigger: dict[str, str] = {}
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self.lock = threading.RLock()
        self.opened: dict[str, float] = {}  # trigger_id -> when views.open for it arrived
        self.updated: dict[str, float] = {}  # view_id -> when its first views.update arrived
        self.opened_cond = threading.Condition(self.lock)
        self.client_credentials = ("1111.2222", "client-secret")  # the app's, for oauth.v2.access
        self.install_codes: dict[str, str] = {}  # one-time OAuth code -> the team installing
        self.tokens: dict[str, str] = {}  # bot token -> its team
        self.revoked: set[str] = set()
        self.team_names: dict[str, str] = {}  # team -> its name as oauth.v2.access gives it
        self.server = _Server(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # --- lifecycle and helpers -----------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/"

    def response_url(self) -> str:
        """A fresh response_url for a slash command: what is posted there is kept in `responses`."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/respond/{next(self._ids)}"

    def start(self) -> FakeSlack:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def channel(self, cid: str) -> Channel:
        with self.lock:
            return self.channels.setdefault(cid, Channel(cid))

    def calls_to(self, method: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method]

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            chans = [self.channels.get(channel) or Channel(channel)] if channel else list(self.channels.values())
            return [m for c in chans if c.exists for m in c.messages]

    def new_trigger(self) -> str:
        tid = f"{next(self._ids)}.{int(time.time())}.trigger"
        with self.lock:
            self.triggers[tid] = time.monotonic()
        return tid

    # --- the API -------------------------------------------------------------------------------

    def handle(self, method: str, p: dict[str, Any], auth: str = "") -> tuple[int, dict[str, Any], dict[str, str]]:
        with self.lock:
            now = time.monotonic()
            team = None
            if (self.tokens or self.install_codes) and method != "oauth.v2.access":
                token = auth.removeprefix("Bearer ") or str(p.get("token") or "")
                if token in self.revoked:
                    self.calls.append(Call(method, p, now))
                    return 200, {"ok": False, "error": "token_revoked"}, {}
                team = self.tokens.get(token)
                if team is None:
                    self.calls.append(Call(method, p, now))
                    return 200, {"ok": False, "error": "invalid_auth"}, {}
                p = {**p, "_team": team}
            self.calls.append(Call(method, p, now, team))
            if method == "views.open" and isinstance(p.get("trigger_id"), str):
                self.opened.setdefault(p["trigger_id"], now)
                self.opened_cond.notify_all()
            if method == "views.update" and isinstance(p.get("view_id"), str):
                self.updated.setdefault(p["view_id"], now)
                self.opened_cond.notify_all()
            if self.rate_limit.get(method):
                self.rate_limit[method] -= 1
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}
            if method == "chat.postMessage" and self.channel_interval and isinstance(p.get("channel"), str):
                last = self.last_post.get(p["channel"])
                if last is not None and now - last < self.channel_interval:
                    self.throttled[p["channel"]] += 1
                    wait_s = max(1, math.ceil(self.channel_interval - (now - last)))
                    return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(wait_s)}
                self.last_post[p["channel"]] = now
            if method in self.errors:
                return 200, {"ok": False, "error": self.errors.pop(method)}, {}
            if method in self.failing:
                return 200, {"ok": False, "error": self.failing[method]}, {}
        handler = getattr(self, "api_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        if method == "oauth.v2.access":
            return 200, self.oauth_v2_access(p, auth), {}
        try:
            result = handler(p)
        except (ValueError, SlackObjectFormationError) as exc:
            with self.lock:
                self.invalid.append(f"{method}: {exc}")
            return 200, {"ok": False, "error": "invalid_blocks", "detail": str(exc)}, {}
        with self.lock:
            if self.lose_answer.get(method):  # Slack did it, but the answer is lost
                self.lose_answer[method] -= 1
                return 500, {"ok": False, "error": "internal_error"}, {}
        return 200, result, {}

    def api_apps_connections_open(self, p: dict[str, Any]) -> dict[str, Any]:
        # nothing listens there: a Socket Mode client keeps retrying, as when Slack is unreachable
        return {"ok": True, "url": "ws://127.0.0.1:9/link/?ticket=fake"}

    def api_auth_test(self, p: dict[str, Any]) -> dict[str, Any]:
        team = p.get("_team") or "T1"
        return {
            "ok": True,
            "user": "settle",
            "user_id": f"UBOT{team}",
            "team": team,
            "team_id": team,
            "bot_id": f"B{team}",
        }

    def api_oauth_v2_access(self, p: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("answered by oauth_v2_access")  # it needs the Authorization header

    def oauth_v2_access(self, p: dict[str, Any], auth: str) -> dict[str, Any]:
        """Slack's answer to an install: the code is good once, for the app whose credentials come with it."""
        import base64

        expected = "Basic " + base64.b64encode(":".join(self.client_credentials).encode()).decode()
        if auth != expected:
            return {"ok": False, "error": "invalid_client_id"}
        with self.lock:
            team = self.install_codes.pop(str(p.get("code") or ""), None)
            if team is None:
                return {"ok": False, "error": "invalid_code"}
            token = f"xoxb-{team}-{next(self._ids)}"
            self.tokens[token] = team
        return {
            "ok": True,
            "app_id": "A0SETTLE",
            "authed_user": {"id": f"U{team}INSTALLER"},
            "scope": "chat:write,commands",
            "token_type": "bot",
            "access_token": token,
            "bot_user_id": f"UBOT{team}",
            "team": {"id": team, "name": self.team_names.get(team, f"Team {team}")},
            "enterprise": None,
            "is_enterprise_install": False,
        }

    def _postable(self, cid: str) -> Channel | dict[str, Any]:
        ch = self.channels.get(cid) or self.channel(cid)
        if not ch.exists:
            return {"ok": False, "error": "channel_not_found"}
        if not ch.member:
            return {"ok": False, "error": "not_in_channel"}
        return ch

    def _check_message(self, p: dict[str, Any]) -> None:
        if not p.get("text"):
            raise ValueError("message without text fallback")
        if len(p["text"]) > 40_000:
            raise ValueError("msg_too_long")
        if p.get("blocks"):
            validate_blocks(p["blocks"])

    def api_chat_postMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        self._check_message(p)
        with self.lock:
            ch = self._postable(p["channel"])
            if isinstance(ch, dict):
                return ch
            ts = f"{int(time.time())}.{next(self._ts):06d}"
            meta = p.get("metadata")
            msg = {
                "ts": ts,
                "text": p["text"],
                "blocks": json.loads(p["blocks"]) if isinstance(p.get("blocks"), str) else p.get("blocks"),
                "metadata": json.loads(meta) if isinstance(meta, str) else meta,
                "thread_ts": p.get("thread_ts"),
                "team": p.get("_team"),
            }
            ch.messages.append(msg)
        if self.on_post:
            self.on_post(msg)
        return {"ok": True, "channel": ch.id, "ts": ts, "message": msg}

    def api_chat_update(self, p: dict[str, Any]) -> dict[str, Any]:
        self._check_message(p)
        with self.lock:
            ch = self.channels.get(p["channel"])
            if ch is None or not ch.exists:
                return {"ok": False, "error": "channel_not_found"}
            for msg in ch.messages:
                if msg["ts"] == p["ts"]:
                    msg["text"] = p["text"]
                    blocks = p.get("blocks")
                    msg["blocks"] = json.loads(blocks) if isinstance(blocks, str) else blocks
                    msg["edits"] = msg.get("edits", 0) + 1
                    return {"ok": True, "channel": ch.id, "ts": msg["ts"]}
        return {"ok": False, "error": "message_not_found"}

    def api_chat_unfurl(self, p: dict[str, Any]) -> dict[str, Any]:
        """Slack's chat.unfurl: a posted message (channel + ts) or the composer's (unfurl_id + source);
        each link's blocks are checked as a message's are."""
        unfurls = p.get("unfurls")
        unfurls = json.loads(unfurls) if isinstance(unfurls, str) else unfurls
        if not isinstance(unfurls, dict) or not unfurls:
            return {"ok": False, "error": "invalid_unfurls"}
        if not (p.get("channel") and p.get("ts")) and not (p.get("unfurl_id") and p.get("source")):
            return {"ok": False, "error": "invalid_arguments"}
        for unfurl in unfurls.values():
            if not isinstance(unfurl, dict) or not unfurl.get("blocks"):
                raise ValueError("an unfurl without blocks")
            validate_blocks(unfurl["blocks"])
        with self.lock:
            where = {k: p.get(k) for k in ("channel", "ts", "unfurl_id", "source")}
            self.unfurled.append({**where, "unfurls": unfurls})
        return {"ok": True}

    def api_chat_postEphemeral(self, p: dict[str, Any]) -> dict[str, Any]:
        self._check_message(p)
        return {"ok": True, "message_ts": f"{int(time.time())}.{next(self._ts):06d}"}

    def api_conversations_history(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            ch = self.channels.get(p["channel"])
            if ch is None or not ch.exists:
                return {"ok": False, "error": "channel_not_found"}
            oldest = float(p.get("oldest") or 0)
            msgs = [dict(m) for m in reversed(ch.messages) if float(m["ts"]) > oldest and not m.get("thread_ts")]
        include_meta = str(p.get("include_all_metadata", "")).lower() in ("1", "true")
        for m in msgs:
            if not include_meta:
                m.pop("metadata", None)
        return {"ok": True, "messages": msgs, "has_more": False, "response_metadata": {"next_cursor": ""}}

    def api_conversations_replies(self, p: dict[str, Any]) -> dict[str, Any]:
        """A thread: its parent and every reply, oldest first (metadata only when asked for)."""
        with self.lock:
            ch = self.channels.get(p["channel"])
            if ch is None or not ch.exists:
                return {"ok": False, "error": "channel_not_found"}
            parent = str(p.get("ts") or "")
            msgs = [dict(m) for m in ch.messages if m["ts"] == parent or m.get("thread_ts") == parent]
        if not msgs:
            return {"ok": False, "error": "thread_not_found"}
        if str(p.get("include_all_metadata", "")).lower() not in ("1", "true"):
            for m in msgs:
                m.pop("metadata", None)
        return {"ok": True, "messages": msgs, "has_more": False, "response_metadata": {"next_cursor": ""}}

    def api_conversations_join(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            ch = self.channels.get(p["channel"])
            if ch is None or not ch.exists:
                return {"ok": False, "error": "channel_not_found"}
            if not ch.public:
                return {"ok": False, "error": "method_not_supported_for_channel_type"}
            ch.member = True
        return {"ok": True, "channel": {"id": ch.id}}

    def api_usergroups_users_list(self, p: dict[str, Any]) -> dict[str, Any]:
        group = p.get("usergroup", "")
        if group not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": self.usergroups[group]}

    def _trigger_ok(self, trigger: str | None) -> str | None:
        with self.lock:
            issued = self.triggers.pop(trigger or "", None)
        if issued is None:
            return "invalid_trigger_id"
        if time.monotonic() - issued > TRIGGER_TTL:
            return "expired_trigger_id"
        return None

    def _store_view(
        self, view: dict[str, Any], view_id: str | None = None, parent: str | None = None
    ) -> dict[str, Any]:
        """Keep a view as Slack would: an update keeps its place in the stack; a push goes on top."""
        vid = view_id or f"V{next(self._ids):08d}"
        with self.lock:
            existing = self.views.get(vid)
            if existing is not None:
                root, previous = existing["root_view_id"], existing.get("previous_view_id")
            elif parent is not None:
                root, previous = self.views[parent]["root_view_id"], parent
            else:
                root, previous = vid, None
            stored = {
                **view,
                "id": vid,
                "hash": f"h{next(self._ids)}",
                "root_view_id": root,
                "previous_view_id": previous,
            }
            self.views[vid] = stored
            if existing is None:
                self.top[root] = vid
        return stored

    def _stack(self, root: str) -> list[str]:
        chain, vid = [], self.top.get(root)
        while vid:
            chain.append(vid)
            vid = self.views[vid].get("previous_view_id")
        return chain

    def push(self, parent: str, view: dict[str, Any]) -> str:
        """A submission answered with response_action=push: the new view goes on top of `parent`."""
        return str(self._store_view(validate_view(view), parent=parent)["id"])

    def back(self, view_id: str) -> str:
        """The user clicks Back (the close button) on the top view: the one below shows again."""
        with self.lock:
            root = self.views[view_id]["root_view_id"]
            top = self.top[root]
            previous = self.views[top].get("previous_view_id")
            assert previous, "the root view has no Back"
            self.top[root] = previous
            return str(previous)

    def top_of(self, view_id: str) -> str:
        with self.lock:
            view = self.views.get(view_id)
            return self.top.get(view["root_view_id"], view_id) if view else view_id

    def api_views_open(self, p: dict[str, Any]) -> dict[str, Any]:
        view = validate_view(p["view"])
        if err := self._trigger_ok(p.get("trigger_id")):
            return {"ok": False, "error": err}
        stored = self._store_view(view)
        with self.lock:
            self.view_by_trigger[p["trigger_id"]] = stored["id"]
        return {"ok": True, "view": stored}

    def api_views_push(self, p: dict[str, Any]) -> dict[str, Any]:
        view = validate_view(p["view"])
        if err := self._trigger_ok(p.get("trigger_id")):
            return {"ok": False, "error": err}
        return {"ok": True, "view": self._store_view(view)}

    def api_views_update(self, p: dict[str, Any]) -> dict[str, Any]:
        view = validate_view(p["view"])
        vid = p.get("view_id")
        with self.lock:
            if not vid and p.get("external_id"):
                # by the external_id of a view Slack shows now (not_found until it is shown)
                vid = next((v for v, shown in self.views.items() if shown.get("external_id") == p["external_id"]), None)
                if vid is None or vid not in self._stack(self.views[vid]["root_view_id"]):
                    return {"ok": False, "error": "not_found"}
            current = self.views.get(vid or "")
            if current is None:
                return {"ok": False, "error": "not_found"}
            if p.get("hash") and p["hash"] != current["hash"]:
                return {"ok": False, "error": "hash_conflict"}
            if self.top.get(current["root_view_id"]) is not None and vid not in self._stack(current["root_view_id"]):
                return {"ok": False, "error": "not_found"}  # a view closed by Back is gone
        return {"ok": True, "view": self._store_view(view, vid)}

    def api_views_publish(self, p: dict[str, Any]) -> dict[str, Any]:
        view = validate_view(p["view"])
        if view.get("type") != "home":
            return {"ok": False, "error": "invalid_arguments"}
        user = p.get("user_id")
        if not isinstance(user, str) or not user.startswith(("U", "W")):
            return {"ok": False, "error": "user_not_found"}
        with self.lock:
            self.homes.setdefault(user, []).append(view)
        return {"ok": True, "view": {**view, "id": f"VH{user}"}}

    def api_users_info(self, p: dict[str, Any]) -> dict[str, Any]:
        user = p.get("user")
        if not isinstance(user, str) or not user.startswith(("U", "W")):
            return {"ok": False, "error": "user_not_found"}
        offset = self.tz_offsets.get(user, 0)
        found: dict[str, Any] = {"id": user, "name": user.lower(), "tz_offset": offset, "tz": "Etc/UTC"}
        if str(p.get("include_locale")).lower() in ("true", "1"):
            found["locale"] = self.locales.get(user, "en-US")
        return {"ok": True, "user": found}

    def api_files_getUploadURLExternal(self, p: dict[str, Any]) -> dict[str, Any]:
        if not p.get("filename") or not str(p.get("length", "")).isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._ids):08d}"
        return {"ok": True, "file_id": file_id, "upload_url": f"{self.url.rsplit('/api', 1)[0]}/upload/{file_id}"}

    def api_files_completeUploadExternal(self, p: dict[str, Any]) -> dict[str, Any]:
        files = json.loads(p["files"]) if isinstance(p.get("files"), str) else p.get("files") or []
        shared = []
        with self.lock:
            for f in files:
                if f["id"] not in self.uploads:
                    return {"ok": False, "error": "file_not_found"}
                entry = {
                    **f,
                    "channel": p.get("channel_id"),
                    "comment": p.get("initial_comment"),
                    "bytes": self.uploads[f["id"]],
                }
                self.files.append(entry)
                shared.append({"id": f["id"], "title": f.get("title")})
            channel = self.channel(str(p["channel_id"])) if p.get("channel_id") else None
            if channel is not None and channel.exists:  # Slack shares the files as a message in the channel
                ts = f"{int(time.time())}.{next(self._ts):06d}"
                channel.messages.append(
                    {
                        "ts": ts,
                        "text": p.get("initial_comment") or "",
                        "files": shared,
                        "blocks": None,
                        "team": p.get("_team"),
                    }
                )
        if self.on_upload:
            for f in shared:
                self.on_upload(f)
        return {"ok": True, "files": shared}

    def home(self, user: str) -> dict[str, Any] | None:
        with self.lock:
            published = self.homes.get(user)
            return published[-1] if published else None

    # --- HTTP plumbing -------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                if self.path.startswith("/respond/"):  # a command's response_url (Bolt's respond())
                    length = int(self.headers.get("Content-Length") or 0)
                    posted = json.loads(self.rfile.read(length) or b"{}")
                    try:
                        validate_blocks(posted.get("blocks") or [])
                    except (ValueError, SlackObjectFormationError) as exc:
                        with fake.lock:
                            fake.invalid.append(f"response_url: {exc}")
                    with fake.lock:
                        fake.responses.setdefault(self.path, []).append(posted)
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                    return
                if self.path.startswith("/upload/"):  # files_upload_v2's step 2: the bytes themselves
                    length = int(self.headers.get("Content-Length") or 0)
                    with fake.lock:
                        fake.uploads[self.path.rsplit("/", 1)[-1]] = self.rfile.read(length)
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"OK")
                    return
                method = self.path.rsplit("/", 1)[-1]
                length = int(self.headers.get("Content-Length") or 0)
                body_bytes = self.rfile.read(length)
                if len(body_bytes) < length:  # the caller died mid-request (a test's kill -9): no call at all
                    return
                raw = body_bytes.decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    params = json.loads(raw or "{}")
                else:
                    params = {k: v[0] for k, v in parse_qs(raw).items()}
                with fake.lock:
                    fake.arrived.append(method)
                if fake.delay.get(method):
                    time.sleep(fake.delay[method])
                status, body, headers = fake.handle(method, params, self.headers.get("Authorization") or "")
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler

"""Screenshot the Dagster UI's asset graph (global lineage) with headless Chromium.

    python scripts/screenshot_asset_graph.py [--home DIR] [--config FILE] [--out docs/img/asset_graph.png]

Starts `dagster-webserver` on a free loopback port (the same way tests/dagster_wc/test_webserver.py
does), opens the lineage page in headless Debian Chromium (`apt-get install -y chromium`), writes
the PNG and stops the server. The config defaults to configs/demo.yaml, else configs/paper.yaml;
the home to $WC_HOME, else .warriorcoder/ (an existing $WC_HOME/dagster/dagster.yaml is kept).

Chromium is driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`, no extra
Python package): it sets the graph to top-to-bottom, waits until every group box shows its asset
statuses, then captures the page. `--simple` instead makes one `chromium --screenshot` call with a
virtual time budget (default left-to-right layout, smaller boxes).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.dagster_webserver import REPO_ROOT, DagsterWebserver

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DEFAULT_ROUTE = "/asset-groups"  # "Global asset lineage" in Dagster 1.13
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
# the graph has rendered: group boxes drawn, and no box still says "(fetching statuses)"
GRAPH_READY_JS = """(() => {
  const text = document.body ? document.body.innerText : '';
  const svgs = Array.from(document.querySelectorAll('svg')).filter(s => s.getBoundingClientRect().height > 200);
  return svgs.length > 0 && text.includes('evaluation') && !text.includes('fetching statuses')
    && !text.includes('Loading');
})()"""


def default_config() -> Path:
    demo = REPO_ROOT / "configs" / "demo.yaml"
    return demo if demo.exists() else REPO_ROOT / "configs" / "paper.yaml"


def find_chromium() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("no Chromium found: install it with `apt-get install -y chromium`")


class DevToolsPipe:
    """A minimal Chrome DevTools Protocol client over `--remote-debugging-pipe` (fds 3 and 4)."""

    def __init__(self, chromium_args: list[str], log_path: Path) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # the child's ends, numbered 10 or more (close-on-exec), so that placing them on fds 3
        # and 4 in the child cannot clobber one with the other
        high_read = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD_CLOEXEC, 10)
        high_write = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_chrome_r)
        os.close(from_chrome_w)

        def place_fds() -> None:  # in the child: dup2 leaves fds 3 and 4 open across exec
            os.dup2(high_read, 3)
            os.dup2(high_write, 4)

        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*chromium_args, "--remote-debugging-pipe"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                close_fds=False,  # Python's own fds are not inheritable; 3 and 4 must stay
                preexec_fn=place_fds,
                start_new_session=True,
            )
        os.close(high_read)
        os.close(high_write)
        self.log_path = log_path
        self._buffer = b""
        self._next_id = 0
        self.session_id: str | None = None

    def send(self, method: str, timeout_s: float = 30.0, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if self.session_id and not method.startswith("Target."):
            message["sessionId"] = self.session_id
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout_s
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply from Chromium")
            ready, _, _ = select.select([self._from_chrome], [], [], left)
            if ready:
                chunk = os.read(self._from_chrome, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"Chromium closed the pipe: {self._stderr_tail()}")
                self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def evaluate(self, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout_s: float, stable_s: float = 0.0) -> bool:
        """Poll until `expression` is truthy (and has stayed so for `stable_s`); False on timeout."""
        deadline = time.monotonic() + timeout_s
        true_since: float | None = None
        while time.monotonic() < deadline:
            now = time.monotonic()
            if self.evaluate(expression):
                true_since = now if true_since is None else true_since
                if now - true_since >= stable_s:
                    return True
            else:
                true_since = None
            time.sleep(0.25)
        return False

    def attach_to_page(self, width: int, height: int) -> None:
        targets = self.send("Target.getTargets")["targetInfos"]
        page = next((t for t in targets if t["type"] == "page"), None)
        target_id = (
            page["targetId"]
            if page
            else self.send("Target.createTarget", url="about:blank")["targetId"]
        )
        self.session_id = self.send("Target.attachToTarget", targetId=target_id, flatten=True)[
            "sessionId"
        ]
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def navigate(self, url: str, timeout_s: float = 30.0) -> None:
        self.send("Page.navigate", url=url)
        self.wait_for(
            f"location.href === {json.dumps(url)} && document.readyState === 'complete'", timeout_s
        )

    def _stderr_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def close(self) -> None:
        for fd in (self._to_chrome, self._from_chrome):
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, 9)
        self.process.wait(timeout=10)


def screenshot_devtools(
    base_url: str,
    route: str,
    out: Path,
    *,
    width: int,
    height: int,
    direction: str,
    timeout_s: float,
) -> None:
    """Open the lineage page laid out in `direction`, wait until it has rendered, capture it."""
    with tempfile.TemporaryDirectory(prefix="wc-chromium-") as profile:
        args = [
            find_chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
        ]
        chrome = DevToolsPipe([*args, "about:blank"], Path(profile) / "chromium.log")
        try:
            chrome.attach_to_page(width, height)
            chrome.navigate(base_url + "/server_info")  # same origin, to set the UI's local storage
            chrome.evaluate(
                f"localStorage.setItem('asset-graph-direction', {json.dumps(json.dumps(direction))})"
            )
            chrome.navigate(base_url + route)
            # statuses load lazily once the boxes are laid out: wait for a quiet page, not a moment
            if not chrome.wait_for(GRAPH_READY_JS, timeout_s, stable_s=2.5):
                print(
                    "warning: the graph did not finish loading; capturing what is there",
                    file=sys.stderr,
                )
            data = chrome.send("Page.captureScreenshot", format="png")["data"]
        finally:
            chrome.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(base64.b64decode(data))


def screenshot_simple(
    url: str, out: Path, *, width: int, height: int, budget_ms: int, timeout_s: float
) -> None:
    """One `chromium --screenshot` page load with `budget_ms` of virtual time."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wc-chromium-") as profile:
        command = [
            find_chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--virtual-time-budget={budget_ms}",
            f"--screenshot={out}",
            url,
        ]
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    if completed.returncode != 0 or not out.is_file():
        raise SystemExit(f"chromium failed ({completed.returncode}):\n{completed.stderr[-3000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--home", default=os.environ.get("WC_HOME") or str(REPO_ROOT / ".warriorcoder")
    )
    parser.add_argument("--config", default=str(default_config()))
    parser.add_argument("--out", default=str(REPO_ROOT / "docs" / "img" / "asset_graph.png"))
    parser.add_argument(
        "--route", default=DEFAULT_ROUTE, help="UI path to open (default: %(default)s)"
    )
    parser.add_argument("--direction", choices=("vertical", "horizontal"), default="vertical")
    parser.add_argument("--width", type=int, default=1500)
    parser.add_argument("--height", type=int, default=1550)
    parser.add_argument(
        "--simple", action="store_true", help="one `chromium --screenshot` call, no DevTools"
    )
    parser.add_argument(
        "--budget-ms", type=int, default=15000, help="virtual time budget of --simple"
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds for the server, and for the page"
    )
    args = parser.parse_args(argv)

    out = Path(args.out).resolve()
    started = time.monotonic()
    with DagsterWebserver(
        args.home, args.config, startup_timeout_s=args.timeout, overwrite_instance_yaml=False
    ) as server:
        print(f"webserver ready at {server.url} in {server.startup_s:.1f} s (config {args.config})")
        nodes = server.asset_nodes()
        print(f"{len(nodes)} assets in {len({n['groupName'] for n in nodes})} groups")
        server.dismiss_community_nux()  # the one-time newsletter dialog would cover the graph
        if args.simple:
            screenshot_simple(
                server.url + args.route,
                out,
                width=args.width,
                height=args.height,
                budget_ms=args.budget_ms,
                timeout_s=args.timeout,
            )
        else:
            screenshot_devtools(
                server.url,
                args.route,
                out,
                width=args.width,
                height=args.height,
                direction=args.direction,
                timeout_s=args.timeout,
            )
    print(f"wrote {out} ({out.stat().st_size} bytes) in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

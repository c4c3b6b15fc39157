"""Screenshot the Dagster UI's asset graph (global lineage) with headless Chromium.

    python scripts/screenshot_asset_graph.py [--home DIR] [--config FILE] [--out docs/img/asset_graph.png]

Starts `dagster-webserver` on a free loopback port (the same way the webserver test does), opens
the asset graph page in headless Debian Chromium (`apt-get install -y chromium`), writes the PNG
and stops the server. The config defaults to configs/demo.yaml, else configs/paper.yaml; the home
to $WC_HOME, else .warriorcoder/. An existing $WC_HOME/dagster/dagster.yaml is left as it is.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.dagster_webserver import REPO_ROOT, DagsterWebserver  # noqa: E402

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DEFAULT_ROUTE = "/asset-groups"  # the global asset lineage page of Dagster 1.13


def default_config() -> Path:
    demo = REPO_ROOT / "configs" / "demo.yaml"
    return demo if demo.exists() else REPO_ROOT / "configs" / "paper.yaml"


def find_chromium() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("no Chromium found: install it with `apt-get install -y chromium`")


def screenshot(url: str, out: Path, *, width: int, height: int, budget_ms: int, timeout_s: float) -> None:
    """One headless Chromium page load, `budget_ms` of virtual time, then the PNG."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wc-chromium-") as profile:
        command = [
            find_chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--virtual-time-budget={budget_ms}",
            f"--screenshot={out}",
            url,
        ]
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    if completed.returncode != 0 or not out.is_file():
        raise SystemExit(f"chromium failed ({completed.returncode}):\n{completed.stderr[-3000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default=os.environ.get("WC_HOME") or str(REPO_ROOT / ".warriorcoder"))
    parser.add_argument("--config", default=str(default_config()))
    parser.add_argument("--out", default=str(REPO_ROOT / "docs" / "img" / "asset_graph.png"))
    parser.add_argument("--route", default=DEFAULT_ROUTE, help="UI path to open (default: %(default)s)")
    parser.add_argument("--width", type=int, default=1800)
    parser.add_argument("--height", type=int, default=1100)
    parser.add_argument("--budget-ms", type=int, default=15000, help="Chromium virtual time budget")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds for the server, and for Chromium")
    args = parser.parse_args(argv)

    out = Path(args.out).resolve()
    started = time.monotonic()
    with DagsterWebserver(args.home, args.config, startup_timeout_s=args.timeout, overwrite_instance_yaml=False) as server:
        print(f"webserver ready at {server.url} in {server.startup_s:.1f} s (config {args.config})")
        nodes = server.asset_nodes()
        print(f"{len(nodes)} assets in {len({n['groupName'] for n in nodes})} groups")
        server.dismiss_community_nux()
        screenshot(
            server.url + args.route, out,
            width=args.width, height=args.height, budget_ms=args.budget_ms, timeout_s=args.timeout,
        )
    print(f"wrote {out} ({out.stat().st_size} bytes) in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

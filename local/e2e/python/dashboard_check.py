"""Watches the dashboard (`status --serve`) in a real browser and compares what it shows with
the JSON endpoint it renders.

Debian's chromium, headless, is driven by playwright (its own browser download is never used).
For `--seconds`, once a second, the page's figures are read in one step (the page cannot
re-render half-way) and /status.json is fetched apart from the browser; whenever both are of
the same look (the same `at`), every figure must equal the JSON's. Prints one JSON object:

    {"matched": N, "mismatches": [...], "first": {...}, "last": {...},
     "rates": {"produced": x, "written": y}, "invocation_rows": N, "screenshot": "path"}

where `first` and `last` are the first and last matched figures and `rates` the highest rates
the page showed. Exits 0 when it could watch (the caller asserts), 2 with a JSON error on stderr
when the browser or the page could not be reached.

    $USER_LAKE_VENV/bin/python local/e2e/python/dashboard_check.py \
        --url http://127.0.0.1:8070/ --seconds 30 --screenshot target/e2e/dashboard.png
"""
import argparse
import json
import sys
import tempfile
import time
import urllib.request

from playwright.sync_api import sync_playwright

# Without the background-networking flags chromium's own network attempts (updates, sync,
# QUIC probes) fail on a machine without internet and slow the page down.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

READ_PAGE = """() => {
  const t = (id) => document.getElementById(id).textContent;
  return {
    at: t("at"), end_total: t("end-total"), kafka_lag: t("kafka-lag"), records: t("records"),
    objects: t("objects"), error_records: t("error-records"),
    produced_rate: t("produced-rate"), written_rate: t("written-rate"),
    invocation_rows: document.querySelectorAll("#invocations tbody tr").length,
  };
}"""


def expected(status):
    """The figures the page must show for one status.json answer, as text."""
    lake = status.get("table") or status.get("lake")
    kafka = status["kafka"]
    reachable = kafka["reachable"]
    return {
        "at": status["at"],
        "end_total": str(sum(p["end"] for p in kafka["partitions"])) if reachable else "–",
        "kafka_lag": str(kafka["lag"]) if reachable else "–",
        "records": str(lake["records"]),
        "objects": str(lake["data_files"] if "table" in status else lake["objects"]),
        "error_records": str(lake["error_records"]),
    }


def number(text):
    try:
        return float(text)
    except ValueError:
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--screenshot", required=True)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    status_url = args.url.rstrip("/") + "/status.json"
    matched, mismatches, first, last = 0, [], None, None
    rates = {"produced": 0.0, "written": 0.0}
    invocation_rows = 0
    try:
        with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
            browser = p.chromium.launch_persistent_context(
                profile, executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS,
                viewport={"width": 1400, "height": 1000},
            )
            page = browser.new_page()
            page.goto(args.url)
            page.wait_for_function("document.getElementById('at').textContent !== '…'", timeout=30000)
            deadline = time.monotonic() + args.seconds
            while time.monotonic() < deadline:
                shown = page.evaluate(READ_PAGE)
                with urllib.request.urlopen(status_url, timeout=10) as response:
                    want = expected(json.load(response))
                for key in ("produced", "written"):
                    value = number(shown[f"{key}_rate"])
                    if value is not None:
                        rates[key] = max(rates[key], value)
                invocation_rows = max(invocation_rows, shown["invocation_rows"])
                if shown["at"] == want["at"]:
                    figures = {k: shown[k] for k in want}
                    if figures == want:
                        matched += 1
                        first = first or figures
                        last = figures
                    else:
                        mismatches.append({"shown": figures, "json": want})
                time.sleep(1)
            page.screenshot(path=args.screenshot, full_page=True)
            browser.close()
    except Exception as error:  # the caller gets one JSON error, whatever failed
        print(json.dumps({"error": f"{type(error).__name__}: {error}"}), file=sys.stderr)
        return 2
    print(json.dumps({
        "matched": matched, "mismatches": mismatches, "first": first, "last": last,
        "rates": rates, "invocation_rows": invocation_rows, "screenshot": args.screenshot,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())

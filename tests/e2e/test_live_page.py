"""The live congestion page of env=local in a real browser (Debian's chromium, driven by selenium, headless).

deploy.yml -e env=local (one region, 10 s windows so that an incident starts and ends within the test) prints the
page's URL; the page is opened and watched while the fleet simulator publishes through the gate: a congestion incident
in one zone turns that zone to the alert colour with its alert mark, and back when the incident is over; a silent
sensor and malformed messages never break the page; the page keeps updating after the poller is restarted. Then the
freshness is measured: single readings for new zones, published over MQTT/TLS, until the page shows each zone
(printed as p50/p95, the figure docs/live-view.md quotes). A screenshot of the page is saved as a test artifact.
"""

from __future__ import annotations

import json
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from test_deploy import Deployment, deployed, explain, installed_collection  # noqa: F401  # pylint: disable=unused-import  # the fixture

from conftest import ROOT, VENV_BIN, scaled, wait_for

sys.path.insert(0, str(ROOT / "files" / "dataplane"))
sys.path.insert(0, str(ROOT / "files" / "lambda"))

from iot_dataplane.local_aws.gate import Enroller
from iot_dataplane.local_aws.local_ca import LocalCA

REGION = "us-east-1"
DATAPLANE = ROOT / "files" / "dataplane" / "dataplane.py"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
# Where the screenshot stays after the run (README.md and docs/live-view.md show a copy of it): the artifact of this test.
ARTIFACTS = Path(os.environ.get("SMARTCITY_TEST_ARTIFACTS", str(ROOT / ".cache" / "test-artifacts")))
WINDOW_SECONDS = 10
ONE_REGION_FAST_WINDOWS = json.dumps({
    "iot_env_regions": [REGION],
    "iot_env_stack_parameters": {"ShardCount": 1, "BatchSize": 500, "MaxBatchingWindowSeconds": 1, "WindowSeconds": WINDOW_SECONDS,
                                 "StateTtlDays": 2, "LogRetentionDays": 7, "LambdaMemorySize": 512},
})
JAM = "lp-z003"


class Page:
    def __init__(self, driver: Any, url: str) -> None:
        self.driver = driver
        self.url = url

    def updates(self) -> int:
        return int(self.driver.find_element("id", "view").get_attribute("data-updated") or 0)

    def zone(self, zone: str) -> dict[str, Any] | None:
        """What the city view shows of a zone: its fill, its tooltip's figures and whether it carries the alert mark."""
        return self.driver.execute_script(
            """const z = arguments[0];
               const shape = document.querySelector(`.sc-zone[data-zone="${CSS.escape(z)}"]`);
               if (!shape) return null;
               const title = shape.querySelector('title');
               return {fill: shape.getAttribute('fill'), tip: title ? title.textContent : '',
                       alert: !!document.querySelector(`.sc-mark-alert[data-zone="${CSS.escape(z)}"]`)};""",
            zone,
        )

    def index(self, zone: str) -> float | None:
        shown = self.zone(zone)
        match = re.search(r"congestion index ([\d.]+)", shown["tip"]) if shown else None
        return float(match.group(1)) if match else None

    def status(self) -> str:
        return self.driver.find_element("id", "status").text


@pytest.fixture(scope="module")
def deployment(installed_collection, tmp_path_factory):  # noqa: F811  # pylint: disable=redefined-outer-name
    with deployed(installed_collection, tmp_path_factory.mktemp("live-home"), ONE_REGION_FAST_WINDOWS) as (dep, proc):
        [url] = re.findall(r"look: (http://127\.0\.0\.1:\d+/) \(live congestion page\)", proc.stdout)
        assert url == f"http://127.0.0.1:{dep.view_port_base}/"
        dep.live_url = url  # type: ignore[attr-defined]
        yield dep


@pytest.fixture(scope="module")
def page(deployment: Deployment):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("chromium and chromium-driver are missing: run scripts/setup --test (it installs the Debian packages)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,860",
                "--no-first-run", "--disable-extensions", "--disable-background-networking"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        driver.get(deployment.live_url)  # type: ignore[attr-defined]
        live = Page(driver, deployment.live_url)  # type: ignore[attr-defined]
        wait_for(lambda: live.updates() >= 1, 30, "the page's first picture")
        yield live
    finally:
        driver.quit()


def simulate(dep: Deployment, *args: str, duration: float) -> subprocess.Popen:
    argv = [str(VENV_BIN / "python"), str(DATAPLANE), "simulate", "--region", REGION, "--endpoint-url", dep.url, "--transport", "mqtt",
            "--mqtt-port", str(dep.mqtt_port_base), "--pki-dir", str(dep.data_plane_dir / "pki"), "--sensors", "100", "--zones", "10",
            "--prefix", "lp", "--rate", "1", "--window-seconds", str(WINDOW_SECONDS), "--duration", str(duration), *args]
    log = (dep.home / "simulate.log").open("ab")
    # the local endpoint accepts any credentials; these name it and are no secret
    env = dep.environment({"AWS_ACCESS_KEY_ID": "local-endpoint", "AWS_SECRET_ACCESS_KEY": "local-endpoint"})
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def finished(proc: subprocess.Popen, timeout: float) -> int:
    try:
        return proc.wait(timeout=scaled(timeout))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise


def test_an_incident_turns_its_zone_to_the_alert_colour_and_back(deployment: Deployment, page: Page) -> None:
    # 24 s of congestion in one zone from the start, then free flow; a sensor goes silent, malformed messages arrive
    sim = simulate(deployment, "--congest", f"{JAM}:0:0.4", "--silence", "lp-z005-s0001:5", "--malformed", "bad_json=3",
                   "--malformed", "vehicle_count=2", duration=60)
    try:
        wait_for(lambda: (page.zone(JAM) or {}).get("alert"), 60, f"{JAM} in alert on the page", interval=0.25)
        jammed = page.zone(JAM)
        assert page.index(JAM) >= 0.7, jammed
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.driver.save_screenshot(str(ARTIFACTS / "live-page-incident.png"))
        others = [page.zone(f"lp-z{n:03d}") for n in (1, 2, 4)]
        assert all(o and not o["alert"] and o["fill"] != jammed["fill"] for o in others), others
        # the incident ends: the next windows flow again, the alert clears and the zone takes a free-flow colour
        wait_for(lambda: (z := page.zone(JAM)) and not z["alert"] and "state CLEAR" in z["tip"], 90, f"{JAM} cleared", interval=0.25)
        assert page.index(JAM) <= 0.5
        assert page.zone(JAM)["fill"] != jammed["fill"]
        before = page.updates()
        wait_for(lambda: page.updates() >= before + 2, 10, "the page to keep updating")  # silent sensor, bad messages: still live
        assert "no answer" not in page.status()
        page.driver.save_screenshot(str(ARTIFACTS / "live-page-cleared.png"))
    finally:
        sim.send_signal(signal.SIGTERM)  # stops publishing, waits for its PUBACKs, reports
        assert finished(sim, 60) == 0, (deployment.home / "simulate.log").read_text()[-3000:]


def test_the_page_keeps_updating_after_the_poller_is_restarted(deployment: Deployment, page: Page) -> None:
    state = deployment.data_plane_dir / REGION
    old = int((state / "poller.pid").read_text())
    os.killpg(old, signal.SIGTERM)
    wait_for(lambda: not Path(f"/proc/{old}").exists() or "zombie" in Path(f"/proc/{old}/status").read_text().lower(), 30, "the poller to stop")
    # deploy again: the role finds the poller gone and starts it (nothing else changes)
    proc = deployment.run("deploy", "-e", "env=local", "-e", ONE_REGION_FAST_WINDOWS)
    assert proc.returncode == 0, explain(proc)
    assert int((state / "poller.pid").read_text()) != old
    sim = simulate(deployment, "--congest", "lp-z007:0:1", duration=25)
    try:
        wait_for(lambda: (page.zone("lp-z007") or {}).get("alert"), 60, "lp-z007 in alert after the restart", interval=0.25)
    finally:
        sim.send_signal(signal.SIGTERM)
        assert finished(sim, 60) == 0


class Prober:
    """One enrolled device that publishes single readings for new zones over MQTT/TLS through the gate, QoS 1."""

    def __init__(self, dep: Deployment) -> None:
        ca = LocalCA(dep.data_plane_dir / "pki")
        iot = boto3.client("iot", region_name=REGION, endpoint_url=dep.url, aws_access_key_id="local-endpoint", aws_secret_access_key="local-endpoint")
        self.thing = "lp-probe"
        cert, key = Enroller(iot, ca)(self.thing)
        self.acked = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.thing, protocol=mqtt.MQTTv5)
        self.client.tls_set(ca_certs=str(ca.ca_cert), certfile=cert, keyfile=key, cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.client.on_publish = lambda *args: self.acked.set()
        self.client.connect("127.0.0.1", dep.mqtt_port_base, keepalive=30)
        self.client.loop_start()

    def publish(self, zone: str) -> float:
        """Publish one reading for zone; returns the time of its PUBACK (the broker has it)."""
        self.acked.clear()
        reading = {"sensor_id": f"{zone}-s1", "zone": zone, "ts": int(time.time() * 1000), "vehicle_count": 3, "avg_speed_kmh": 42.0}
        self.client.publish(f"traffic/{zone}/{self.thing}/telemetry", json.dumps(reading), qos=1)
        assert self.acked.wait(scaled(10)), "no PUBACK"
        return time.monotonic()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_publish_to_visible_on_the_page(deployment: Deployment, page: Page) -> None:
    """Freshness at env=local's defaults: PUBACK of a reading for a new zone until the page in the browser shows that
    zone (gate, broker, bridge, Kinesis, poller with its 1 s batching window, handler, digest, the page's 1 s poll)."""
    prober = Prober(deployment)
    latencies = []
    try:
        for n in range(12):
            zone = f"fresh-{n:02d}"
            sent = prober.publish(zone)
            wait_for(lambda z=zone: page.zone(z) is not None, 30, f"{zone} on the page", interval=0.05)
            latencies.append(time.monotonic() - sent)
    finally:
        prober.close()
    latencies.sort()
    p50, p95 = latencies[len(latencies) // 2], latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    print(f"\nlive page freshness (publish -> visible in the browser, {len(latencies)} samples): p50 {p50:.2f} s, p95 {p95:.2f} s, max {latencies[-1]:.2f} s")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "live-page-freshness.json").write_text(json.dumps({"samples_s": latencies, "p50_s": p50, "p95_s": p95}))
    assert len(latencies) == 12  # every reading became visible; the figure itself is printed, not asserted

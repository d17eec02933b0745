"""Issue 16's must-show, in a real headless Chromium against a real `fullbars server`: an engineer
submits an intent on the page, CI runs the lab verification of its bundle in a namespaced lab and
attaches it through the API, the submitter cannot approve their own change (no button, and the
API refuses: four-eyes), a NOC operator approves and rolls out to 'production' (a second lab of
namespaced devices, addressed by a network description), and the live view shows every device
reach `confirmed`. The audit lists every step with the right user and holds no secret.
Screenshots go to the test's tmp folder (printed).

Labs are this file's own: names start with s4s, management subnets pinned in 198.18.248.0/22."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from lxml import html

from conftest import EXAMPLES, REPO
from lab_environment import as_environment
from server_helpers import make_users, running_server
from test_lab import _require_lab_tools

NETWORK = EXAMPLES / "network.yaml"
ACME = EXAMPLES / "intents/acme-hq.yaml"
PROD_SECRET = "FULLBARS_TEST_S4S_PRODUCTION_PASSWORD"
SUBNETS = {"lab": "198.18.248.0/24", "prod": "198.18.249.0/24"}
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,1800"]


def _topology(plan_dir, name: str, subnet: str, cpes: bool) -> str:
    from orchestrator.lab.generate import from_plan

    doc = yaml.safe_load(from_plan(plan_dir, name, cpes=cpes))
    doc["mgmt"] = {"ipv4-subnet": subnet}
    return yaml.safe_dump(doc, sort_keys=False)


def _browser(profile):
    for tool, pkg in (("chromium", "chromium"), ("chromedriver", "chromium-driver")):
        if not shutil.which(tool):
            pytest.fail(f"the browser test needs Debian's {pkg}: apt-get install -y chromium chromium-driver "
                        f"(bash scripts/setup.sh installs it)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("the browser test needs selenium: bash scripts/setup.sh (pip install -e '.[test]')")
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile}"]:
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)


@contextlib.contextmanager
def live_view(url: str, name: str, password: str, n: int, profile):
    """Chromium signed in on the page as name, showing change n's live view; the driver."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = _browser(profile)
    try:
        driver.get(url + f"login?next=/changes/{n}/live")
        driver.find_element(By.ID, "name").send_keys(name)
        driver.find_element(By.ID, "password").send_keys(password)
        driver.find_element(By.ID, "sign-in").click()
        WebDriverWait(driver, 30).until(lambda d: d.current_url.endswith(f"/changes/{n}/live"))
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The two labs up, the server running against production, the users made."""
    _require_lab_tools()
    import httpx

    from orchestrator.lab.runtime import open_lab
    from orchestrator.plan.artifacts import write
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    tmp = tmp_path_factory.mktemp("server-browser")
    labs_dir = tmp / "labs"
    mp = pytest.MonkeyPatch()
    mp.setenv("FULLBARS_LAB_DIR", str(labs_dir))
    write(plan(Store(f"sqlite:///{tmp}/scratch.db"), str(NETWORK), [str(ACME)]), tmp / "scratch-plan")
    tag = os.getpid() % 100000
    lab_file, prod_file = tmp / "lab.clab.yml", tmp / "prod.clab.yml"
    lab_file.write_text(_topology(tmp / "scratch-plan", f"s4sl{tag}", SUBNETS["lab"], cpes=True))
    prod_file.write_text(_topology(tmp / "scratch-plan", f"s4sp{tag}", SUBNETS["prod"], cpes=False))
    labs = [open_lab(lab_file), open_lab(prod_file)]
    try:
        for lab in labs:
            lab.up(timeout=90)
        st = labs[1].load_state()
        prodnet = str(as_environment(NETWORK, tmp, st, PROD_SECRET))
        env = {PROD_SECRET: st["password"], "FULLBARS_LAB_DIR": str(labs_dir)}
        with running_server(tmp, "--network", prodnet, env=env) as (url, admin_pw, db):
            with httpx.Client(timeout=60) as client:
                tokens = make_users(client, url, admin_pw, people={"erin": ["engineer", "noc"], "nora": ["noc"]},
                                    machines={"ci-bot": ["ci"]})
            yield {"tmp": tmp, "url": url, "db": db, "lab": lab_file, "tokens": tokens, "admin_pw": admin_pw,
                   "secrets": [admin_pw, st["password"]] + list(tokens.values()), "env": env}
    finally:
        for lab in labs:
            lab.down()
        mp.undo()


def _sign_in(driver, url: str, name: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(url + "login")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    _click(driver, "sign-in", lambda d: d.find_elements(By.ID, "who"))
    assert driver.find_element(By.ID, "who").text.startswith(name)


def _wait(driver, seconds: float, poll: float, arrived, message: str = ""):
    """Wait until arrived(driver) is true. An element found on a page that is then replaced (a click's
    navigation, the live view's refresh) goes stale before its text is read: that is "not yet", not a failure."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds, poll, ignored_exceptions=(NoSuchElementException,
                                                                    StaleElementReferenceException)).until(
        arrived, message=message)


def _click(driver, button: str, arrived) -> None:
    """Press a button and wait for the page it leads to (a click returns before it loads)."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, button).click()
    _wait(driver, 120, 0.2, arrived, f"after {button}: {driver.current_url}")


def _cli(*args: str, db: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator", *args, "--db", db], cwd=REPO, text=True,
                          capture_output=True, timeout=600, env={**os.environ, **env, "PYTHONPATH": str(REPO)})


def test_engineer_ci_noc_roll_a_change_out_in_a_browser(world):
    import httpx
    from selenium.webdriver.common.by import By

    url, tokens, tmp = world["url"], world["tokens"], world["tmp"]
    shots = tmp / "screenshots"
    shots.mkdir()
    print(f"screenshots in {shots}")
    driver = _browser(tmp / "chromium-profile")
    api = httpx.Client(base_url=url, timeout=60)
    try:
        # the engineer submits the intent on the page
        _sign_in(driver, url, "erin", tokens["erin:password"])
        driver.find_element(By.ID, "title").send_keys("ACME HQ business line")
        driver.find_element(By.ID, "file").clear()
        driver.find_element(By.ID, "file").send_keys("acme-hq.yaml")
        driver.execute_script("document.getElementById('intent').value = arguments[0]", ACME.read_text())
        _click(driver, "submit", lambda d: re.search(r"/changes/\d+$", d.current_url))
        change = int(re.search(r"/changes/(\d+)$", driver.current_url).group(1))
        assert driver.find_element(By.ID, "state").text == "planned"
        for dev in ("olt-1", "bng-east"):  # the per-device plan, with its diff
            assert "+" in driver.find_element(By.ID, f"device-{dev}").text
        driver.save_screenshot(str(shots / "1-planned.png"))
        driver.get(url)  # planned only: the overview does not call it in service
        row = next(r for r in driver.find_elements(By.CSS_SELECTOR, "#services tr") if r.text.startswith("acme-hq"))
        assert row.find_element(By.CSS_SELECTOR, "td.service-state").text == "not applied", row.text
        listed = api.get("api/services", headers={"Authorization": f"Bearer {tokens['erin']}"}).json()["services"]
        assert [x["state"] for x in listed if x["name"] == "acme-hq"] == ["not applied"], listed
        driver.get(url + f"changes/{change}")

        # CI: the bundle into the lab, verified there, the verification attached through the API
        ci = {"Authorization": f"Bearer {tokens['ci-bot']}"}
        c = api.get(f"api/changes/{change}", headers=ci).json()
        bundle = c["bundle_dir"]
        r = _cli("apply", bundle, "--target", "lab", "--lab", str(world["lab"]), "--confirm-timeout", "60",
                 db=world["db"], env=world["env"])
        assert r.returncode == 0, r.stdout + r.stderr
        r = _cli("lab", "verify", bundle, str(world["lab"]), db=world["db"], env=world["env"])
        print(r.stdout)
        assert r.returncode == 0, r.stdout + r.stderr
        verification = int(re.search(r"verification (\d+) passed", r.stdout).group(1))
        r = api.post(f"api/changes/{change}/evidence", json={"verification_id": verification}, headers=ci)
        assert r.status_code == 200 and r.json()["state"] == "verified", r.text

        # the submitter (engineer and NOC) sees the evidence but no approve button; the API refuses
        driver.refresh()
        assert driver.find_element(By.ID, "state").text == "verified"
        assert "passed" in driver.find_element(By.ID, "evidence-summary").text
        assert "acme-hq" in driver.find_element(By.ID, "evidence").text
        # the chart, drawn by the server: a bar per line and direction, with the lab's measured rates
        rows = api.get(f"api/changes/{change}", headers=ci).json()["evidence"]["checks"]["services"]["services"]
        want = {f"{s['service']} {way}": (f"{s[f'measured_{way}_bps'] / 1e6:.1f}",
                                          f"{s[f'expected_{way}_bps'] / 1e6:.0f}")
                for s in rows for way in ("down", "up") if s.get(f"expected_{way}_bps")}
        assert want and all(float(m) > 0 for m, _ in want.values()), rows
        bars = html.fromstring(api.get(f"changes/{change}", headers=ci).text).xpath(
            "//svg[@id='rate-chart']//g[@class='rate-bar']")  # as served: no JavaScript drew it
        got = {g.get("data-line"): (g.get("data-measured-mbps"), g.get("data-target-mbps")) for g in bars}
        assert got == want, (got, want)
        for g in bars:
            assert float(g.xpath("rect[@class='measured']")[0].get("width")) > 0
            assert f"measured {g.get('data-measured-mbps')}" in g.text_content()
        driver.save_screenshot(str(shots / "2a-evidence-chart.png"))
        assert not driver.find_elements(By.ID, "do-approve")
        assert driver.find_elements(By.ID, "do-withdraw")  # what they may do is shown
        driver.save_screenshot(str(shots / "2-verified-no-approve-for-submitter.png"))
        erin = {"Authorization": f"Bearer {tokens['erin']}"}
        r = api.post(f"api/changes/{change}/approve", headers=erin)
        assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json"), r.text
        assert "four-eyes" in r.json()["detail"] and r.json()["errors"][0]["fix"], r.text
        assert api.get(f"api/changes/{change}", headers=erin).json()["state"] == "verified"

        # a NOC operator approves and rolls out; the live view shows every device reach confirmed
        _sign_in(driver, url, "nora", tokens["nora:password"])
        driver.get(url + f"changes/{change}")
        assert not driver.find_elements(By.ID, "do-start")  # not before approval
        _click(driver, "do-approve", lambda d: d.find_element(By.ID, "state").text == "approved")
        assert driver.find_element(By.ID, "approver").text == "nora"
        _click(driver, "do-start", lambda d: d.current_url.endswith(f"/changes/{change}/live"))
        assert driver.find_elements(By.ID, "rollout"), driver.page_source[:2000]
        driver.save_screenshot(str(shots / "3-live-started.png"))
        cells = lambda d: [e.text for e in d.find_elements(By.CSS_SELECTOR, "td.device-state")]  # noqa: E731
        _wait(driver, 300, 0.5, lambda d: d.find_element(By.ID, "rollout-state").text in ("done", "failed"))
        driver.save_screenshot(str(shots / "4-live-done.png"))
        assert driver.find_element(By.ID, "rollout-state").text == "done", driver.find_element(By.ID, "rollout").text
        states = cells(driver)
        assert states == ["confirmed", "confirmed"], states
        devices = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "tr[data-device] td:nth-child(3)")]
        assert sorted(devices) == ["bng-east", "olt-1"]

        # production's drift page: both devices run what the change gave them
        driver.get(url + "environments/production/drift")
        text = driver.find_element(By.ID, "drift").text
        assert text.count("in sync") == 2, text
        driver.save_screenshot(str(shots / "5-drift-production.png"))
        driver.get(url)  # the overview: the service, its devices per environment, what it holds
        row = next(r.text for r in driver.find_elements(By.CSS_SELECTOR, "#services tr") if r.text.startswith("acme-hq"))
        assert "env:production: bng-east, olt-1" in row and row.endswith("in service"), row
        driver.save_screenshot(str(shots / "5b-overview.png"))
        driver.get(url + f"audit?subject=change:{change}")
        driver.save_screenshot(str(shots / "6-audit.png"))
        assert [p.name for p in sorted(shots.iterdir())] == sorted(
            ["1-planned.png", "2-verified-no-approve-for-submitter.png", "2a-evidence-chart.png", "3-live-started.png",
             "4-live-done.png", "5-drift-production.png", "5b-overview.png", "6-audit.png"])

        # the audit: every step of the change, by whom, from where
        admin = {"Authorization": f"Bearer {tokens['admin']}"}
        rows = api.get("api/audit", params={"subject": f"change:{change}"}, headers=admin).json()
        steps = [(a["action"], a["actor"]) for a in reversed(rows)]
        assert steps == [("change-submit", "erin"), ("change-attach-passing", "ci-bot"), ("change-approve", "nora"),
                         ("change-start", "nora"), ("change-wave", "nora"), ("change-finish", "nora")], steps
        assert all(a["origin"] == "127.0.0.1" and a["detail"]["bundle"] == c["bundle_id"] for a in rows), rows
        assert next(a for a in rows if a["action"] == "change-wave")["detail"]["outcome"] == "committed"
        r = _cli("audit", "--subject", f"change:{change}", "--format", "json", db=world["db"], env=world["env"])
        assert [(a["action"], a["actor"]) for a in reversed(json.loads(r.stdout)["rows"])] == steps
        everything = api.get("api/audit", params={"limit": 1000}, headers=admin).text
        for secret in world["secrets"]:
            assert secret not in everything
    finally:
        driver.quit()
        api.close()

"""The web console in a real headless browser (Debian's chromium through
chromedriver and python3-selenium): log in with a code from
`m2m-cse console-login`, find a resource, create an ACP and attach it, and
see the denial it causes in the audit view. Fails (never skips) when the
browser is missing: scripts/install-deps.sh installs it."""
import os, shutil, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(__file__))
from harness import Cse, Tap, CSE_BIN, admin_flags

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.support.ui import Select, WebDriverWait

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")

t = Tap()
if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
    t.ok(False, "chromium and chromium-driver are installed (scripts/install-deps.sh)", (CHROMIUM, CHROMEDRIVER))
    t.done()


def browser(profile):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--disable-extensions", "--no-first-run", "--user-data-dir=" + profile):
        opts.add_argument(a)
    # The CSE's own generated CA is not in the browser's store.
    opts.accept_insecure_certs = True
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)


def clicked(find):
    """A wait condition that clicks what find(driver) returns. The console
    redraws its tables when a fetch answers, which can replace an element
    between finding and clicking it (seen on a loaded machine): then it is
    found again."""
    def attempt(d):
        try:
            find(d).click()
            return True
        except (StaleElementReferenceException, IndexError):
            return False
    return attempt


profile = tempfile.mkdtemp(prefix="ironbark-chromium-")
with Cse(console="true", coap_port=0, coaps_port=0) as cse:
    r = cse.register_ae("meter", origin="Cmeter")
    t.rsc(r, 2001, 201, "an AE to look at (Cmeter)")
    r = cse.create("/cse-in/meter", 3, {"m2m:cnt": {"rn": "power"}}, origin="Cmeter")
    t.rsc(r, 2001, 201, "and its container")
    code = subprocess.run([CSE_BIN, "console-login", *admin_flags(cse.data_dir)], capture_output=True,
                          text=True, timeout=20).stdout.strip()

    d = browser(profile)
    wait = WebDriverWait(d, 10)
    try:
        d.get("https://localhost:%d/console/" % cse.https_port)
        d.find_element(By.ID, "code").send_keys(code)
        d.find_element(By.ID, "login").click()
        wait.until(lambda d: d.find_element(By.ID, "main-view").is_displayed())
        t.ok("CAdmin" in d.find_element(By.ID, "who").text, "logged in with the code, as the admin")

        # Find a resource and see its attributes.
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#tree-list li"))
        d.find_element(By.ID, "tree-filter").send_keys("power")
        items = d.find_elements(By.CSS_SELECTOR, "#tree-list li")
        t.eq([li.text for li in items], ["cse-in/meter/power"], "the filter finds the container")
        wait.until(clicked(lambda d: d.find_elements(By.CSS_SELECTOR, "#tree-list li")[0]))
        wait.until(lambda d: "m2m:cnt" in d.find_element(By.ID, "attrs-title").text)
        cells = [td.text for td in d.find_elements(By.CSS_SELECTOR, "#attrs td")]
        t.ok("rn" in cells and "power" in cells and "pi" in cells and "ri" in cells, "its attributes are shown", cells[:12])

        # Create an ACP: Cmeter may only retrieve; the admin keeps managing it.
        d.find_element(By.CSS_SELECTOR, "button[data-tab=acps]").click()
        d.find_element(By.ID, "acp-name").send_keys("readonly")
        first = d.find_elements(By.CSS_SELECTOR, "#rule-table tbody tr")[0]
        first.find_element(By.CSS_SELECTOR, ".rule-acor").send_keys("Cmeter")
        first.find_element(By.CSS_SELECTOR, ".op-retrieve").click()
        d.find_element(By.ID, "acp-save").click()
        wait.until(lambda d: "created" in d.find_element(By.ID, "status").text)
        wait.until(lambda d: any("Cmeter" in tr.text and "retrieve" in tr.text
                                 for tr in d.find_elements(By.CSS_SELECTOR, "#acp-table tbody tr")))
        rows = [tr.text for tr in d.find_elements(By.CSS_SELECTOR, "#acp-table tbody tr")]
        t.ok(any("cse-in/readonly" in r and "Cmeter" in r and "retrieve" in r for r in rows) and
             any("CAdmin" in r and "all" in r and "self" in r for r in rows),
             "the policy table shows who may do what", rows)
        acp = cse.get("/cse-in/readonly").json or {}
        t.eq(acp.get("m2m:acp", {}).get("pv"), {"acr": [{"acor": ["Cmeter"], "acop": 2}]},
             "the CSE stores the policy the form described")

        # Attach it to the container.
        Select(d.find_element(By.ID, "attach-acp")).select_by_visible_text("cse-in/readonly")
        d.find_element(By.ID, "attach-target").send_keys("cse-in/meter/power")
        d.find_element(By.ID, "attach").click()
        wait.until(lambda d: "attached" in d.find_element(By.ID, "status").text)
        cnt = cse.get("/cse-in/meter/power").json or {}
        t.eq(cnt.get("m2m:cnt", {}).get("acpi"), [acp["m2m:acp"]["ri"]], "the container links the policy")

        # The policy at work: Cmeter may read, not write.
        t.rsc(cse.get("/cse-in/meter/power", origin="Cmeter"), 2000, 200, "Cmeter may retrieve")
        r = cse.create("/cse-in/meter/power", 4, {"m2m:cin": {"con": "42"}}, origin="Cmeter")
        t.rsc(r, 4103, 403, "Cmeter may no longer create")

        # The denial in the audit view, filtered.
        d.find_element(By.CSS_SELECTOR, "button[data-tab=audit]").click()
        d.find_element(By.ID, "audit-originator").send_keys("Cmeter")
        Select(d.find_element(By.ID, "audit-decision")).select_by_value("deny")
        d.find_element(By.ID, "audit-search").click()
        # Typing and choosing each start a search: the table may be redrawn by a
        # later one while it is read, so it is read again until it shows the
        # filtered denial (or the wait ends, and the last rows read are reported).
        seen = {"rows": None}

        def denial_shown(d):
            try:
                if "entries" not in d.find_element(By.ID, "status").text:
                    return False
                seen["rows"] = [tr.text for tr in d.find_elements(By.CSS_SELECTOR, "#audit-table tr.audit-entry")]
            except StaleElementReferenceException:
                return False
            rows = seen["rows"]
            return bool(rows) and all("deny" in r and "Cmeter" in r for r in rows) and \
                any("cse-in/meter/power" in r and "CREATE" in r for r in rows)
        try:
            shown = wait.until(denial_shown)
        except TimeoutException:
            shown = False
        t.ok(shown, "the audit view shows the denial, filtered by originator and decision", seen["rows"])

        # Edit the policy: Cmeter may create as well.
        d.find_element(By.CSS_SELECTOR, "button[data-tab=acps]").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#acp-table button"))
        wait.until(clicked(lambda d: d.find_element(By.CSS_SELECTOR, "#acp-table button")))
        wait.until(lambda d: "Edit cse-in/readonly" in d.find_element(By.ID, "acp-form-title").text)
        wait.until(clicked(lambda d: [
            tr for tr in d.find_elements(By.CSS_SELECTOR, "#rule-table tbody tr")
            if tr.find_element(By.CSS_SELECTOR, ".rule-acor").get_attribute("value") == "Cmeter"][0]
            .find_element(By.CSS_SELECTOR, ".op-create")))
        d.find_element(By.ID, "acp-save").click()
        wait.until(lambda d: "saved" in d.find_element(By.ID, "status").text)
        t.eq((cse.get("/cse-in/readonly").json or {}).get("m2m:acp", {}).get("pv"),
             {"acr": [{"acor": ["Cmeter"], "acop": 3}]}, "the edited policy is stored")
        r = cse.create("/cse-in/meter/power", 4, {"m2m:cin": {"con": "43"}}, origin="Cmeter")
        t.rsc(r, 2001, 201, "and Cmeter may create again")

        # The AE and the credentials views.
        d.find_element(By.CSS_SELECTOR, "button[data-tab=aes]").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#ae-table tbody tr"))
        t.ok("Cmeter" in d.find_element(By.ID, "ae-table").text, "the registered AE is listed")
        d.find_element(By.CSS_SELECTOR, "button[data-tab=creds]").click()
        wait.until(lambda d: d.find_element(By.ID, "tab-creds").is_displayed())
        t.ok("Keys are never shown" in d.find_element(By.ID, "tab-creds").text, "the credentials view opens")
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)
t.done()

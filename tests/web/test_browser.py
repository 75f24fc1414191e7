"""The issue's journeys in a real browser (Debian's Chromium through Playwright), against the UI and
the emulator on free 127.0.0.1 ports: create a credential with Test Connect and Connect & Create, run
each of the four actions, bad input at every field, and re-authorising a credential that needs it."""

from __future__ import annotations

import csv
import io
import json
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from playwright.sync_api import Page, Playwright, expect, sync_playwright
from tests.web.browser import Shots, chromium, screenshot_folder
from tests.web.conftest import CLIENT_ID, SECRET, Live, create_credential, csrf

from exactmate.config import Settings
from exactmate.emulator.config import DEMO_PASSWORD, DEMO_USERNAME
from exactmate.vault import Vault
from exactmate.web import UiServer, create_app

pytestmark = pytest.mark.browser

NOTES = "Browser booking"


@pytest.fixture(scope="module")
def pw() -> Iterator[Playwright]:
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Shots:
    return Shots(screenshot_folder(tmp_path_factory.mktemp("screenshots")))


@pytest.fixture
def emulator(serve: Callable[..., Live]) -> Live:
    return serve(records=40, minutely_limit=100_000, daily_limit=1_000_000)


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    app = create_app(settings)
    yield app
    app.state.ui.flow_starts.close()


@pytest.fixture
def server(app: FastAPI) -> Iterator[UiServer]:
    with UiServer(app, port=0) as running:
        yield running


@pytest.fixture
def page(pw: Playwright, tmp_path: Path, server: UiServer, app: FastAPI) -> Iterator[Page]:
    """Chromium, signed in as the user is: through the one-time link `exactmate ui` opens."""
    with chromium(pw, tmp_path / "chromium-profile") as context:
        page = context.new_page()
        page.goto(server.url.rstrip("/") + app.state.ui.sessions.login_path())
        yield page


@pytest.fixture
def http(server: UiServer, app: FastAPI) -> Iterator[httpx.Client]:
    """The same UI over plain HTTP, for set-up steps that are not part of a journey (the access token
    as a bearer token, the way a script uses the UI)."""
    bearer = {"Authorization": f"Bearer {app.state.ui.policy.token}"}
    with httpx.Client(base_url=server.url, follow_redirects=False, timeout=30, headers=bearer) as client:
        yield client


def sign_in(popup: Page, shots: Shots | None = None) -> None:
    """What the user does on the emulator's Exact Online sign-in page."""
    popup.wait_for_load_state()
    popup.fill("#username", DEMO_USERNAME)
    popup.fill("#password", DEMO_PASSWORD)
    if shots is not None:
        shots.take(popup, "03-exact-sign-in")
    popup.get_by_role("button", name="Allow").click()


def lookup(http: httpx.Client, endpoint: str, filter: str = "", field: str = "ID") -> str:
    """The ``field`` (ID) of the first record, read through the UI's own List action."""
    form = {
        "credential": "Demo NL",
        "division": "100001",
        "action": "get",
        "endpoint": endpoint,
        "select": field,
        "filter": filter,
        "top": "1",
        "mode": "run",
    }
    answer = http.post("/actions/run", data=form, headers={"X-CSRF-Token": csrf(http, "/actions")})
    link = re.search(r'href="(/actions/results/[^"]+\.json)"', answer.text)
    assert link, answer.text[:500]
    return str(http.get(link.group(1)).json()[0][field])


def result(page: Page) -> Any:
    return page.locator("#run-result")


ACTIONS = {
    "Create Project Time Transactions": "create",
    "Update Project Time Transaction": "update",
    "Delete Endpoint with ID": "delete",
    "List or Get Endpoint": "get",
}


def choose_action(page: Page, label: str) -> None:
    """Click the action's card (its radio button carries the label as its name)."""
    radio = page.get_by_role("radio", name=re.compile("^" + re.escape(label)))
    radio.check()
    expect(radio).to_have_value(ACTIONS[label])


def downloaded(page: Page, name: str) -> str:
    with page.expect_download() as info:
        result(page).get_by_role("link", name=name).click()
    path = info.value.path()
    return Path(path).read_text(encoding="utf-8")


def test_create_a_credential_with_test_connect_and_connect_and_create(
    page: Page, server: UiServer, emulator: Live, shots: Shots, settings: Settings
) -> None:
    page.goto(server.url + "vault")
    expect(page.get_by_role("heading", name="Vault")).to_be_visible()
    expect(page.locator(".breadcrumb")).to_contain_text("Application Credentials")
    shots.take(page, "01-vault-empty")

    page.get_by_role("link", name="New App Credentials").click()
    expect(page.locator("#redirect_uri")).to_have_value(server.url + "oauth/callback")
    page.fill("#name", "Demo NL")
    page.select_option("#server_choice", "custom")
    page.fill("#server_url", emulator.base_url)
    page.fill("#client_id", CLIENT_ID)
    page.fill("#client_secret", SECRET)
    save = page.locator("#connect-create")
    expect(save).to_be_disabled()
    shots.take(page, "02-new-credential")

    with page.expect_popup() as opened:
        page.click("#test-connect")
    sign_in(opened.value, shots)
    expect(page.locator("[data-test-status=ok]")).to_contain_text("Test Connect succeeded")
    if not opened.value.is_closed():
        opened.value.wait_for_event("close", timeout=5_000)  # after Allow, the sign-in window closes
    expect(page.locator("#test-result")).to_contain_text("Dana Demo")
    expect(save).to_be_enabled()
    shots.take(page, "04-test-connect-ok")

    page.fill("#client_id", CLIENT_ID + "0")  # a tested value changes: the gate closes
    expect(save).to_be_disabled()
    expect(page.locator("#gate-hint")).to_contain_text("run Test Connect again")
    page.fill("#client_id", CLIENT_ID)
    expect(save).to_be_enabled()
    page.fill("#client_secret", SECRET + "!")
    expect(save).to_be_disabled()
    page.fill("#client_secret", SECRET)
    expect(save).to_be_enabled()

    save.click()
    page.wait_for_url(server.url + "vault")
    row = page.locator("tr[data-name='Demo NL']")
    expect(row).to_contain_text("connected")
    expect(row).to_contain_text("Default")
    expect(page.locator(".notice.ok")).to_contain_text("Credential Demo NL created")
    assert SECRET not in page.content()
    shots.take(page, "05-vault-list")
    with Vault.open(settings) as vault:
        assert vault.get("Demo NL").has_tokens


def test_run_each_of_the_four_actions(
    page: Page, server: UiServer, emulator: Live, http: httpx.Client, shots: Shots
) -> None:
    create_credential(http, emulator)
    item = lookup(http, "logistics/Items", "IsTime eq 1")
    project = lookup(http, "project/Projects")

    page.goto(server.url + "actions")
    expect(page.locator("#division-hint")).to_contain_text("Current division: 100001")
    page.fill("#division", "100001")
    page.fill("#f-Item", item)
    page.fill("#f-Project", project)
    page.fill("#f-Quantity", "7.5")
    page.fill("#f-Date", "2026-05-04")
    page.fill("#f-Notes", NOTES)
    page.select_option("#f-HourStatus", "1")
    page.fill("#field-search", "starttime")
    page.locator("button.field-option[data-name='StartTime']").click()
    page.fill("#f-StartTime", "2026-05-04T09:00:00")
    expect(page.locator("button.field-option[data-name='Created']")).to_be_disabled()  # read-only

    page.click("#dry-run")
    expect(result(page)).to_contain_text("Dry run: nothing was sent")
    expect(page.locator("#planned-request")).to_contain_text(f'"Notes": "{NOTES}"')
    shots.take(page, "06-create-dry-run")
    page.click("#run")
    expect(result(page)).to_contain_text("Time transaction created")
    [created] = json.loads(downloaded(page, "JSON"))
    entry_id = created["ID"]
    assert created["status"] == "created" and created["division"] == 100001
    shots.take(page, "07-create-run")

    choose_action(page, "Update Project Time Transaction")
    page.fill("#key", entry_id)
    expect(page.locator("#key-hint")).to_contain_text(f"guid'{entry_id}'")
    page.fill("#f-Quantity", "3")
    page.click("#run")
    expect(result(page)).to_contain_text("Time transaction updated")
    expect(page.locator("#result-table")).to_contain_text("7.5")
    shots.take(page, "08-update")

    choose_action(page, "List or Get Endpoint")
    expect(page.locator("#endpoint")).to_be_editable()
    page.fill("#endpoint", "project/TimeTransactions")
    expect(page.locator("#list-options")).to_be_hidden()  # a key asks for one record
    page.fill("#key", "")
    page.fill("#filter", f"Notes eq '{NOTES}'")
    page.click("#run")
    expect(page.locator("#result-table tbody tr")).to_have_count(1)
    expect(page.locator("#result-table")).to_contain_text(NOTES)
    listed = list(csv.DictReader(io.StringIO(downloaded(page, "CSV"))))
    assert [(r["ID"], r["Quantity"]) for r in listed] == [(entry_id, "3.0")]
    assert list(listed[0]) == ["ID", "Date", "Employee", "Item", "Quantity", "Project", "Notes", "HourStatus"]
    shots.take(page, "09-list")

    choose_action(page, "Delete Endpoint with ID")
    page.fill("#endpoint", "project/TimeTransactions")
    page.fill("#key", entry_id)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#run")
    expect(result(page)).to_contain_text("Record deleted")
    expect(result(page)).to_contain_text(NOTES)
    shots.take(page, "10-delete")

    choose_action(page, "List or Get Endpoint")
    page.fill("#endpoint", "project/TimeTransactions")
    page.fill("#key", entry_id)
    page.click("#run")
    expect(result(page)).to_contain_text("Exact Online answered HTTP 404")


def test_reference_fields_are_picked_by_code_or_name(
    page: Page, server: UiServer, emulator: Live, http: httpx.Client
) -> None:
    create_credential(http, emulator)
    item = lookup(http, "logistics/Items", "Code eq 'CONSULT'")
    project = lookup(http, "project/Projects", "Code eq 'PRJ001'")
    page.goto(server.url + "actions")
    expect(page.locator("#division-hint")).to_contain_text("Current division: 100001")
    page.fill("#f-Item", "cons")  # typing searches Exact by code and name
    option = page.locator("#options-Item option")
    expect(option).to_have_count(1)
    assert option.get_attribute("value") == item
    assert option.get_attribute("label") == "CONSULT · Consultancy"
    page.fill("#f-Item", item)  # what choosing the option does
    page.fill("#f-Project", "code:PRJ001")  # a code typed as it is books too
    page.fill("#f-Quantity", "2")
    page.click("#dry-run")
    expect(result(page)).to_contain_text("Dry run: nothing was sent")
    expect(page.locator("#planned-request")).to_contain_text(f'"Project": "{project}"')
    expect(page.locator("#planned-request")).to_contain_text(f'"Item": "{item}"')


def test_bad_input_at_every_field(
    page: Page, server: UiServer, emulator: Live, http: httpx.Client, shots: Shots
) -> None:
    page.goto(server.url + "vault/new")
    page.click("#test-connect")
    expect(page.locator("#name-error")).to_contain_text("Connector Name is required")
    expect(page.locator("#client_id-error")).to_contain_text("Client ID is required")
    expect(page.locator("#client_secret-error")).to_contain_text("Client Secret is required")
    page.fill("#name", "Acme")
    page.fill("#client_id", "not-a-guid")
    page.fill("#client_secret", "whatever")
    page.click("#test-connect")
    expect(page.locator("#client_id-error")).to_contain_text("is not a GUID")
    page.select_option("#server_choice", "custom")
    page.fill("#server_url", "http://exact.example.com")
    page.click("#test-connect")
    expect(page.locator("#server_url-error")).to_contain_text("plain http")
    expect(page.locator("#connect-create")).to_be_disabled()
    shots.take(page, "11-bad-credential-input")

    create_credential(http, emulator)
    page.goto(server.url + "actions")
    page.fill("#division", "first")
    expect(page.locator("#division-error")).to_contain_text("positive whole number")
    page.fill("#division", "100001")
    choose_action(page, "Delete Endpoint with ID")
    page.fill("#endpoint", "crm/Acounts")
    expect(page.locator("#endpoint-error")).to_contain_text("Did you mean")
    page.fill("#endpoint", "crm/Accounts")
    expect(page.locator("#endpoint-error")).to_be_empty()
    page.fill("#key", "123")
    expect(page.locator("#key-error")).to_contain_text("GUID")

    choose_action(page, "Create Project Time Transactions")
    page.fill("#f-Item", "xyz")
    expect(page.locator("#f-Item-error")).to_contain_text("No Item has a code or name containing")
    page.fill("#f-Notes", "no quantity")
    calls = sum(
        sum(v.values()) for k, v in emulator.stats()["by_endpoint"].items() if "TimeTransactions" in k
    )
    page.click("#run")
    alert = result(page).get_by_role("alert")
    expect(alert).to_contain_text("Nothing was sent")
    expect(alert).to_contain_text("Item (Guid)")
    expect(alert).to_contain_text("Quantity is mandatory")
    after = sum(
        sum(v.values()) for k, v in emulator.stats()["by_endpoint"].items() if "TimeTransactions" in k
    )
    assert after == calls
    shots.take(page, "12-bad-action-input")


def test_a_credential_needing_reauthorisation_stands_out_and_is_reauthorised(
    page: Page, server: UiServer, emulator: Live, http: httpx.Client, shots: Shots, settings: Settings
) -> None:
    create_credential(http, emulator)
    with Vault.open(settings) as vault:
        vault.tokens_of(vault.get("Demo NL").id).mark_needs_reauthorization(
            "Exact rejected the refresh token (Old refresh token used)"
        )
    page.goto(server.url + "vault")
    row = page.locator("tr[data-name='Demo NL']")
    expect(row).to_have_class(re.compile("needs-reauth"))
    expect(page.locator("#reauth-notice")).to_be_visible()
    shots.take(page, "13-vault-needs-reauthorisation")

    row.get_by_role("button", name="Re-authorise").click()
    sign_in(page)
    page.wait_for_url(server.url + "vault")
    expect(page.locator(".notice.ok")).to_contain_text("Demo NL")
    expect(row).to_contain_text("connected")
    expect(page.locator("#reauth-notice")).to_have_count(0)


def test_every_vault_row_button_fits_at_1024_and_1280_and_test_reports_in_the_row(
    page: Page, server: UiServer, emulator: Live, http: httpx.Client, shots: Shots, settings: Settings
) -> None:
    create_credential(http, emulator)
    long_name = "Customer Holding Europe B.V. production connector"
    create_credential(http, emulator, name=long_name)  # not the default: every button shows
    create_credential(http, emulator, name="Old one")
    with Vault.open(settings) as vault:
        vault.forget_tokens("Old one")
    for width, height in ((1024, 768), (1280, 800)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(server.url + "vault")
        wrap = page.locator(".table-wrap").bounding_box()
        assert wrap is not None and wrap["x"] + wrap["width"] <= width
        buttons = page.locator("#credentials td.actions").locator("button, a.button")
        assert buttons.count() >= 13
        for index in range(buttons.count()):
            box = buttons.nth(index).bounding_box()
            label = buttons.nth(index).inner_text()
            assert box is not None, label
            inside = box["x"] >= wrap["x"] and box["x"] + box["width"] <= wrap["x"] + wrap["width"]
            assert inside, (width, label, box)
    shots.take(page, "14-vault-row-buttons")

    row = page.locator(f"tr[data-name='{long_name}']")
    row.get_by_role("button", name=f"Test {long_name}").click()
    outcome = page.locator(f"tr.test-row[data-test-for='{long_name}']")
    expect(outcome).to_contain_text("Test Connect succeeded")
    expect(outcome).to_contain_text("Dana Demo")
    page.locator("tr[data-name='Old one']").get_by_role("button", name="Test Old one").click()
    needs = page.locator("tr.test-row[data-test-for='Old one']")
    expect(needs).to_contain_text("needs consent")
    expect(needs).to_contain_text("exactmate vault connect 'Old one'")


@pytest.mark.parametrize("locale", ["nl-NL", "en-US"])
def test_a_date_means_the_same_day_in_every_browser_locale(
    locale: str,
    pw: Playwright,
    tmp_path: Path,
    server: UiServer,
    app: FastAPI,
    emulator: Live,
    http: httpx.Client,
) -> None:
    """The Date field is ISO text (yyyy-mm-dd): 2026-05-04 books 4 May whatever the browser's
    language, and a day in a locale's own order (04-05-2026, 05/04/2026) is refused, not guessed."""
    create_credential(http, emulator)
    item = lookup(http, "logistics/Items", "IsTime eq 1")
    project = lookup(http, "project/Projects")
    notes = f"Locale {locale}"
    with chromium(pw, tmp_path / "profile", locale=locale) as context:
        page = context.new_page()
        page.goto(server.url + "login")
        page.fill("#token", app.state.ui.policy.token)
        page.get_by_role("button", name="Sign in").click()
        page.goto(server.url + "actions")
        assert page.evaluate("navigator.language") == locale
        expect(page.locator("#division-hint")).to_contain_text("Current division: 100001")
        date = page.locator("#f-Date")
        expect(date).to_have_attribute("type", "text")
        expect(date).to_have_attribute("placeholder", "yyyy-mm-dd")
        expect(page.locator("[data-field='Date']")).to_contain_text("Dutch time (CET/CEST)")
        for typed in ("04-05-2026", "05/04/2026", "2026-02-30"):
            date.fill(typed)
            expect(page.locator("#f-Date-error")).not_to_be_empty()
        page.fill("#division", "100001")
        page.fill("#f-Item", item)
        page.fill("#f-Project", project)
        page.fill("#f-Quantity", "2")
        date.fill("2026-05-04")
        expect(page.locator("#f-Date-error")).to_be_empty()
        page.fill("#f-Notes", notes)
        page.click("#run")
        expect(result(page)).to_contain_text("Time transaction created")
    form = {
        "credential": "Demo NL",
        "division": "100001",
        "action": "get",
        "endpoint": "project/TimeTransactions",
        "select": "Date",
        "filter": f"Notes eq '{notes}'",
        "mode": "run",
    }
    answer = http.post("/actions/run", data=form, headers={"X-CSRF-Token": csrf(http, "/actions")})
    link = re.search(r'href="(/actions/results/[^"]+\.json)"', answer.text)
    assert link, answer.text[:500]
    [booked] = http.get(link.group(1)).json()
    assert booked["Date"].startswith("2026-05-04T00:00:00"), booked  # midnight, Dutch wall clock


def test_return_all_beyond_the_page_limit_says_so_and_downloads_every_record(
    page: Page, server: UiServer, emulator: Live, http: httpx.Client, shots: Shots, monkeypatch: Any
) -> None:
    create_credential(http, emulator)
    monkeypatch.setattr("exactmate.web.action_pages.MAX_ROWS", 20)
    page.goto(server.url + "actions")
    expect(page.locator("#division-hint")).to_contain_text("Current division: 100001")
    page.fill("#division", "100001")
    choose_action(page, "List or Get Endpoint")
    page.fill("#endpoint", "project/TimeTransactions")
    page.check("#return-all")
    page.click("#run")
    expect(page.locator("#result-table tbody tr")).to_have_count(20)
    expect(page.locator("#export-all")).to_contain_text("20 records shown; more exist.")
    expect(page.locator("#result-summary")).to_contain_text("there are more")
    shots.take(page, "15-list-cut-off-export")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download all as CSV").click()
    assert info.value.suggested_filename == "exactmate-project-TimeTransactions.csv"
    exported = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text(encoding="utf-8"))))
    ids = [r["ID"] for r in exported]
    assert len(ids) > 20 and len(set(ids)) == len(ids)
    with page.expect_download() as info:
        page.get_by_role("button", name="Download all as NDJSON").click()
    lines = Path(info.value.path()).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["ID"] for line in lines] == ids


def test_create_from_a_file_previews_each_row_and_books_with_progress(
    page: Page, server: UiServer, emulator: Live, http: httpx.Client, shots: Shots, tmp_path: Path
) -> None:
    create_credential(http, emulator)
    item = lookup(http, "logistics/Items", "IsTime eq 1")
    project = lookup(http, "project/Projects")
    lines = ["Date;Item;Project;Quantity;Notes"]  # as Dutch Excel saves it
    lines += [f"2026-06-{n:02d};{item};{project};7,5;File row {n}" for n in range(1, 13)]
    hours = tmp_path / "uren.csv"
    hours.write_text("\n".join(lines) + "\n", encoding="utf-8")
    broken = tmp_path / "broken.csv"
    bad_row = f"31-06-2026;{item};{project};x;Bad row"
    broken.write_text("\n".join([*lines[:3], bad_row]) + "\n", encoding="utf-8")

    page.goto(server.url + "actions")
    expect(page.locator("#division-hint")).to_contain_text("Current division: 100001")
    page.fill("#division", "100001")
    expect(page.locator("#file-panel")).to_be_visible()
    page.set_input_files("#entries-file", str(broken))
    page.click("#check-file")
    bad = page.locator("#upload-table tr[data-row='3']")
    expect(bad).to_have_attribute("data-check", "invalid")
    expect(bad).to_contain_text("is not a date")
    expect(page.locator("#upload-refused")).to_be_visible()
    expect(page.locator("#book-upload")).to_have_count(0)

    page.set_input_files("#entries-file", str(hours))
    page.click("#check-file")
    expect(page.locator("#upload-title")).to_contain_text("uren.csv: 12 entries")
    expect(page.locator("#upload-summary")).to_contain_text("separated by semicolons")
    expect(page.locator("#upload-table tbody tr[data-check='planned']")).to_have_count(12)
    shots.take(page, "16-create-from-file-preview")
    page.click("#book-upload")
    expect(page.locator("#result-title")).to_contain_text("Entries booked")
    expect(page.locator("#result-summary")).to_contain_text("12 entries, 12 created")
    expect(page.locator("#result-table tbody tr")).to_have_count(12)
    shots.take(page, "17-create-from-file-booked")

    page.set_input_files("#entries-file", str(hours))  # the same file again: nothing is new
    page.click("#check-file")
    expect(page.locator("#upload-summary")).to_contain_text("12 booked earlier")
    expect(page.locator("#upload-nothing")).to_contain_text("Nothing to book")

    choose_action(page, "List or Get Endpoint")
    expect(page.locator("#file-panel")).to_be_hidden()


def test_booking_a_file_shows_its_progress(
    page: Page, server: UiServer, emulator: Live, http: httpx.Client, tmp_path: Path, monkeypatch: Any
) -> None:
    """The booking is held after its third entry (its progress callback waits), so the page is seen
    polling mid-way; released, it finishes and shows the results."""
    from exactmate.web import upload_pages

    create_credential(http, emulator)
    item = lookup(http, "logistics/Items", "IsTime eq 1")
    project = lookup(http, "project/Projects")
    hours = tmp_path / "hours.csv"
    rows = [f"2026-07-{n:02d},{item},{project},4,Progress {n}" for n in range(1, 13)]
    hours.write_text("Date,Item,Project,Quantity,Notes\n" + "\n".join(rows) + "\n", encoding="utf-8")
    release = threading.Event()
    real = upload_pages.create_time_transactions

    def held(*args: Any, progress: Any = None, **kwargs: Any) -> Any:
        seen: list[int] = []

        def report(outcome: Any) -> None:
            progress(outcome)
            seen.append(outcome.row)
            if len(seen) >= 3:
                release.wait(30)

        return real(*args, progress=report if progress else None, **kwargs)

    monkeypatch.setattr(upload_pages, "create_time_transactions", held)
    page.goto(server.url + "actions")
    expect(page.locator("#division-hint")).to_contain_text("Current division: 100001")
    page.fill("#division", "100001")
    page.set_input_files("#entries-file", str(hours))
    page.click("#check-file")
    page.click("#book-upload")
    expect(page.locator("#book-status")).to_have_text(re.compile(r"Booked ([3-9]|1[01]) of 12"))
    expect(page.locator("#book-progress")).to_be_visible()
    expect(page.locator("#book-upload")).to_be_disabled()  # no second press while it books
    release.set()
    expect(page.locator("#result-summary")).to_contain_text("12 entries, 12 created")


def test_run_a_flow_now_with_its_inputs_and_follow_its_timeline(
    page: Page, server: UiServer, emulator: Live, http: httpx.Client, settings: Settings, shots: Shots
) -> None:
    """Flows → Run now on the weekly-hours example: a file input uploaded, a value typed, a mistake
    shown on the form first, then the run's timeline refreshing until the run has booked the hours."""
    create_credential(http, emulator)
    examples = Path(__file__).resolve().parents[2] / "examples" / "flows"
    folder = settings.home / "flows"
    folder.mkdir(parents=True)
    (folder / "weekly-hours.yaml").write_text((examples / "weekly-hours.yaml").read_text(encoding="utf-8"))
    code = lookup(http, "project/Projects", field="Code")

    page.goto(server.url + "flows")
    row = page.locator("#flow-rows tr", has_text="weekly-hours")
    expect(row).to_contain_text("manual")
    shots.take(page, "18-flows")
    row.get_by_role("link", name="Run now").click()
    expect(page.locator("h1")).to_contain_text("Run “weekly-hours” now")
    page.fill("#input-project", code)
    page.click("#run-now")
    expect(page.locator("#run-problems")).to_contain_text("input 'hours' is missing")
    expect(page.locator("#input-project")).to_have_value(code)  # kept for the second try
    page.set_input_files("#input-hours", str(examples / "week.csv"))
    shots.take(page, "19-flow-run-now")
    page.click("#run-now")
    expect(page.locator("#run-status")).to_have_text("succeeded", timeout=30_000)
    expect(page.locator("#run-steps li")).to_have_count(3)
    expect(page.locator("#run-steps")).to_contain_text("4 booked, 0 booked before, 0 failed")
    shots.take(page, "20-flow-run-timeline")

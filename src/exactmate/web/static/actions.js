/* The action form: credential and division, the four actions, the endpoint picker, key checks and
   the Data Manager. Every check here is a convenience; the server checks everything again. */
"use strict";

(() => {
  const { getJSON, post, debounce, el, fieldError } = exactmate;
  const form = document.getElementById("action-form");
  if (!form) return;
  const $ = (id) => document.getElementById(id);
  const credential = $("credential");
  const division = $("division");
  const endpoint = $("endpoint");
  const key = $("key");
  const chosen = $("chosen-fields");
  const fieldList = $("field-list");
  const fieldSearch = $("field-search");
  const result = $("result");
  const runStatus = $("run-status");
  const TIME = "project/TimeTransactions";
  const GUID = /^\s*(guid')?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'?\s*$/i;

  const ACTIONS = {
    create: { method: "POST", fixed: TIME, key: null, fields: "send",
      title: "Data Manager: fields of the new time entry",
      help: "The usual fields come first; add any other writable field from the list. Empty fields are not sent." },
    update: { method: "PUT", fixed: TIME, key: "Time Transaction ID", required: true, fields: "send",
      title: "Data Manager: fields to change",
      help: "Only the fields with a value are sent; the entry is read first, and final entries are refused." },
    delete: { method: "DELETE", fixed: null, key: "Endpoint ID", required: true, fields: null },
    get: { method: "GET", fixed: null, key: "Primary key (optional)", required: false, fields: "select",
      title: "Data Manager: fields to return",
      help: "Leave the list empty to return every field. Without a key the endpoint is listed." },
  };

  const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
  const ISO_DATETIME = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2})?)?$/;

  /** Why ``text`` is not an ISO date (or date-time) of the calendar, or "" when it is (or empty). */
  function isoProblem(name, text, kind) {
    const value = text.trim();
    if (value === "") return "";
    const shape = kind === "datetime" ? ISO_DATETIME : ISO_DATE;
    const example = kind === "datetime" ? "2026-05-04T09:00:00" : "2026-05-04";
    if (!shape.test(value)) {
      return name + " is written year-month-day, like " + example + ".";
    }
    const [y, m, d] = value.slice(0, 10).split("-").map(Number);
    const day = new Date(Date.UTC(y, m - 1, d));
    if (day.getUTCFullYear() !== y || day.getUTCMonth() !== m - 1 || day.getUTCDate() !== d) {
      return value.slice(0, 10) + " is not a day of the calendar.";
    }
    const time = value.slice(11).split(":").map(Number);
    if (time.length > 1 && (time[0] > 23 || time[1] > 59 || (time[2] || 0) > 59)) {
      return value.slice(11) + " is not a time of day (hh:mm:ss, 00:00:00 to 23:59:59).";
    }
    return "";
  }

  let described = null; // the /api/endpoint answer for the current endpoint and action
  const action = () => form.querySelector('input[name="action"]:checked').value;

  // ---- credential and division ------------------------------------------------------------------
  async function loadDivisions(refresh) {
    const list = $("division-options");
    list.replaceChildren();
    fieldError(credential, "");
    if (!credential.value) return;
    const hint = $("division-hint");
    hint.textContent = "Loading the divisions of " + credential.value + "…";
    const answer = await getJSON("/api/divisions?credential=" + encodeURIComponent(credential.value) +
      (refresh ? "&refresh=1" : ""));
    if (!answer.ok) {
      hint.textContent = "Type a division code, current or all.";
      fieldError(credential, answer.data.error || "The divisions could not be loaded.");
      return;
    }
    list.append(el("option", { value: "current", label: "current: " + answer.data.current }));
    list.append(el("option", { value: "all", label: "all divisions" }));
    let currentName = "";
    for (const d of answer.data.divisions) {
      list.append(el("option", { value: String(d.code), label: d.code + " – " + d.description }));
      if (d.code === answer.data.current) currentName = d.description;
    }
    hint.textContent = "Current division: " + answer.data.current + (currentName ? " (" + currentName + ")" : "") +
      ". " + answer.data.divisions.length + " accessible. Typing a code is fine too.";
  }

  function checkDivision() {
    const value = division.value.trim().toLowerCase();
    const ok = value === "" || value === "current" || value === "all" || /^[1-9][0-9]*$/.test(value);
    fieldError(division, ok ? "" : "A division is a code (a positive whole number), current or all.");
    return ok;
  }

  // ---- action and endpoint ----------------------------------------------------------------------
  async function loadEndpointOptions(method) {
    const list = $("endpoint-options");
    list.replaceChildren();
    const answer = await getJSON("/api/endpoints?method=" + encodeURIComponent(method));
    if (!answer.ok) return;
    for (const e of answer.data.endpoints) {
      list.append(el("option", { value: e.path, label: e.methods + (e.key ? " · key " + e.key : "") }));
    }
  }

  function setAction() {
    const spec = ACTIONS[action()];
    if (spec.fixed) {
      endpoint.value = spec.fixed;
      endpoint.readOnly = true;
    } else {
      endpoint.readOnly = false;
      loadEndpointOptions(spec.method);
    }
    $("key-label").hidden = !spec.key;
    $("key-wrap").hidden = !spec.key;
    if (spec.key) {
      $("key-label").textContent = spec.key;
      $("key-label").classList.toggle("required", !!spec.required);
    }
    $("data-manager").hidden = !spec.fields;
    syncListOptions();
    if (spec.fields) {
      $("dm-title").textContent = spec.title;
      $("dm-help").textContent = spec.help;
    }
    $("dry-run").hidden = action() === "get";
    $("file-panel").hidden = action() !== "create";
    fieldError(key, "");
    loadEndpoint();
  }

  // The Data Manager is rebuilt whenever the action or the endpoint changes. Its old rows go at
  // once, and a run waits for the new ones (``ready``), so a form is never sent half-rebuilt.
  let generation = 0;
  let markReady = () => {};
  let ready = Promise.resolve();

  function loadEndpoint() {
    generation += 1;
    described = null;
    chosen.replaceChildren();
    fieldList.replaceChildren();
    fieldSearch.value = "";
    $("endpoint-hint").textContent = "";
    markReady();
    ready = new Promise((resolve) => { markReady = resolve; });
    describeSoon(generation);
  }

  const describeSoon = debounce(async (wanted) => {
    await describeEndpoint(wanted);
    if (wanted === generation) { updateEmpty(); markReady(); }
  }, 200);

  async function describeEndpoint(wanted) {
    const path = endpoint.value.trim();
    if (!path) {
      fieldError(endpoint, "Choose an endpoint (service/Endpoint, e.g. crm/Accounts).");
      return;
    }
    const answer = await getJSON("/api/endpoint?action=" + action() + "&path=" + encodeURIComponent(path));
    if (wanted !== generation) return; // the user moved on meanwhile
    if (!answer.ok) {
      fieldError(endpoint, answer.data.error || "Unknown endpoint.");
      return;
    }
    described = answer.data;
    fieldError(endpoint, described.problem || "");
    const keyText = described.keys.length ? "key " + described.keys.join(" + ") +
      (described.key_type ? " (" + described.key_type + ")" : "") : "no key";
    $("endpoint-hint").textContent = described.path + " · " + described.methods.join(", ") + " · " + keyText;
    key.placeholder = described.key_type === "guid" ? "00000000-0000-0000-0000-000000000000"
      : described.keys.length > 1 ? described.keys.map((k) => k + "=…").join(",") : "";
    renderFieldList();
    for (const name of described.usual) addField(name);
    if (key.value.trim()) checkKey();
  }

  /** Filter and limit apply to listings only: hidden (and not sent) when a key asks for one record. */
  function syncListOptions() {
    const listing = action() === "get" && key.value.trim() === "";
    $("list-options").hidden = !listing;
    for (const input of $("list-options").querySelectorAll("input")) input.disabled = !listing;
    $("top").disabled = !listing || $("return-all").checked; // "all" and a limit exclude each other
  }

  // ---- Data Manager -----------------------------------------------------------------------------
  function fieldInfo(name) {
    return described ? described.fields.find((f) => f.name === name) : null;
  }

  function badges(f) {
    const out = [];
    if (f.mandatory) out.push(el("span", { class: "badge mandatory", text: "mandatory" }));
    if (f.read_only) out.push(el("span", { class: "badge readonly", text: "read-only" }));
    if (f.insert_only && action() === "update") out.push(el("span", { class: "badge readonly", text: "create only" }));
    return out;
  }

  function renderFieldList() {
    fieldList.replaceChildren();
    for (const f of described.fields) {
      const reason = f.pickable ? null : (f.read_only ? "read-only: Exact fills it in" : "cannot be used here");
      const option = el("button", { type: "button", class: "field-option", dataset: { name: f.name },
        disabled: !f.pickable, title: reason },
        el("span", {}, f.name + " ", ...badges(f)), el("span", { class: "type", text: f.type }));
      option.addEventListener("click", () => {
      addField(f.name);
      fieldSearch.value = "";
      filterFields();
      updateEmpty();
    });
      fieldList.append(option);
    }
    filterFields();
  }

  function filterFields() {
    const needle = fieldSearch.value.trim().toLowerCase();
    let shown = 0;
    for (const option of fieldList.children) {
      const f = fieldInfo(option.dataset.name);
      const taken = !!chosen.querySelector('[data-field="' + CSS.escape(option.dataset.name) + '"]');
      option.hidden = taken || (needle !== "" && !f.name.toLowerCase().includes(needle) &&
        !f.type.toLowerCase().includes(needle));
      if (!option.hidden) shown += 1;
    }
    $("field-none").hidden = shown > 0 || !described;
  }

  function inputFor(f) {
    const spec = f.input;
    const name = "field:" + f.name;
    const id = "f-" + f.name;
    if (spec.kind === "choice" || spec.kind === "bool") {
      const select = el("select", { name, id }, el("option", { value: "", text: "(not set)" }));
      for (const [value, label] of spec.choices) select.append(el("option", { value, text: label }));
      return select;
    }
    const attrs = { name, id, type: "text" };
    if (spec.kind === "int") Object.assign(attrs, { type: "number", step: "1", min: spec.min, max: spec.max });
    if (spec.kind === "number") Object.assign(attrs, { type: "number", step: "any" });
    // Dates are typed as ISO text, not in the browser's date control: that control shows and reads
    // the day in the browser's locale order (05/04 is 4 May in nl-NL, 5 April in en-US), while ISO
    // text means one day everywhere and is what the command line, CSV files and Exact's filters use.
    if (spec.kind === "date" || spec.kind === "datetime") {
      const withTime = spec.kind === "datetime";
      Object.assign(attrs, { inputmode: "numeric", spellcheck: "false", class: "iso-date",
        placeholder: withTime ? "yyyy-mm-ddThh:mm:ss" : "yyyy-mm-dd",
        pattern: withTime ? ISO_DATETIME.source : ISO_DATE.source });
    }
    if (spec.kind === "guid") attrs.placeholder = "00000000-0000-0000-0000-000000000000";
    if (spec.lookup) {
      attrs.placeholder = "type a code or a name to search, or paste a GUID";
      attrs.list = "options-" + f.name;
      attrs.autocomplete = "off";
    }
    const input = el("input", attrs);
    if (spec.lookup) return lookupInput(f, input);
    if (spec.kind === "date" || spec.kind === "datetime") {
      input.addEventListener("input", () => fieldError(input, isoProblem(f.name, input.value, spec.kind)));
    }
    if (spec.kind === "guid") {
      input.addEventListener("input", () => fieldError(input,
        input.value.trim() === "" || GUID.test(input.value) ? "" : f.name + " takes a GUID (8-4-4-4-12 hex digits)."));
    }
    if (spec.kind === "int" || spec.kind === "number") {
      input.addEventListener("input", () => fieldError(input,
        input.validity.badInput ? f.name + " takes a number." :
        input.validity.stepMismatch ? f.name + " takes a whole number." :
        input.validity.rangeUnderflow || input.validity.rangeOverflow ? f.name + " is out of range." : ""));
    }
    return input;
  }

  /** A reference field (Project, Item, Employee, Account, Activity): typing searches Exact by code
   *  and name (one call per pause in typing), the list shows both, and choosing one fills its GUID. */
  function lookupInput(f, input) {
    const options = el("datalist", { id: "options-" + f.name });
    let asked = 0;
    const search = debounce(async () => {
      const text = input.value.trim();
      if (text === "" || GUID.test(text)) { fieldError(input, ""); return; }
      const mine = ++asked;
      const answer = await getJSON("/api/references?field=" + encodeURIComponent(f.name) +
        "&q=" + encodeURIComponent(text) + "&credential=" + encodeURIComponent(credential.value) +
        "&division=" + encodeURIComponent(division.value || "current"));
      if (mine !== asked) return; // a later search answers instead
      if (!answer.ok) { fieldError(input, answer.data.error || "The search failed."); return; }
      options.replaceChildren(...answer.data.records.map((r) =>
        el("option", { value: r.ID, label: [r.code, r.name].filter((x) => x).join(" · ") })));
      fieldError(input, answer.data.records.length ? "" :
        "No " + f.name + " has a code or name containing " + JSON.stringify(text) + " in division " + answer.data.division + ".");
    }, 300);
    input.addEventListener("input", search);
    const box = el("span", { class: "lookup" }, input, options);
    box.dataset.lookupFor = f.name;
    return box;
  }

  function addField(name) {
    const f = fieldInfo(name);
    if (!f || !f.pickable || chosen.querySelector('[data-field="' + CSS.escape(name) + '"]')) return;
    const mode = ACTIONS[action()].fields;
    const label = el("div", { class: "name" }, f.name, el("small", {}, f.type + " ", ...badges(f)));
    let body;
    if (mode === "send") {
      const control = inputFor(f); // an input, a select, or a lookup box holding its input
      const input = control.matches("input, select") ? control : control.querySelector("input");
      label.replaceChildren(el("label", { for: input.id }, f.name), el("small", {}, f.type + " ", ...badges(f)));
      const dated = f.input.kind === "date" || f.input.kind === "datetime";
      const note = dated ? el("div", { class: "hint", text: "Year-month-day, Dutch time (CET/CEST) as Exact keeps it." }) : null;
      body = el("div", {}, control, note, el("div", { class: "field-error", id: input.id + "-error" }));
    } else {
      body = el("div", { class: "hint" }, "returned", el("input", { type: "hidden", name: "select", value: f.name }));
    }
    const remove = el("button", { type: "button", class: "small", title: "Remove " + f.name,
      "aria-label": "Remove " + f.name, text: "Remove" });
    const row = el("div", { class: "field-row", dataset: { field: f.name } }, label, body, remove);
    remove.addEventListener("click", () => { row.remove(); filterFields(); updateEmpty(); });
    chosen.append(row);
    filterFields();
  }

  function updateEmpty() {
    $("chosen-empty").hidden = chosen.children.length > 0;
  }

  // ---- key --------------------------------------------------------------------------------------
  const checkKey = debounce(async () => {
    const value = key.value.trim();
    $("key-hint").textContent = "";
    if (!value || !described) { fieldError(key, ""); return; }
    const answer = await getJSON("/api/key-check?path=" + encodeURIComponent(described.path) +
      "&key=" + encodeURIComponent(value));
    if (key.value.trim() !== value) return; // typed on meanwhile
    fieldError(key, answer.data.ok ? "" : answer.data.message || answer.data.error);
    if (answer.data.ok) $("key-hint").textContent = "→ " + answer.data.message;
  }, 250);

  // ---- run --------------------------------------------------------------------------------------
  async function submit(event) {
    event.preventDefault();
    const mode = event.submitter && event.submitter.value === "dry_run" ? "dry_run" : "run";
    await ready;
    const body = new FormData(form);
    body.set("mode", mode);
    if (action() === "delete" && mode === "run") {
      const what = endpoint.value.trim() + " " + key.value.trim();
      if (!window.confirm("Delete " + what + " in Exact Online? This cannot be undone.")) return;
      body.set("confirm", "yes");
    }
    for (const button of form.querySelectorAll("button[type=submit]")) button.disabled = true;
    runStatus.replaceChildren(el("span", { class: "spinner" }), " Running…");
    try {
      const response = await post("/actions/run", body);
      result.innerHTML = await response.text();
    } catch (e) {
      result.replaceChildren(el("div", { class: "notice bad", role: "alert",
        text: "The exactmate UI cannot be reached. Is it still running?" }));
    } finally {
      for (const button of form.querySelectorAll("button[type=submit]")) button.disabled = false;
      runStatus.textContent = "";
    }
    result.scrollIntoView({ behavior: "smooth", block: "start" });
  }

  // ---- create from a file -----------------------------------------------------------------------
  async function checkFile() {
    const file = $("entries-file");
    fieldError(file, file.files.length ? "" : "Choose a CSV, JSON or NDJSON file first.");
    if (!file.files.length) return;
    const body = new FormData();
    body.set("file", file.files[0]);
    body.set("credential", credential.value);
    body.set("division", division.value || "current");
    body.set("delimiter", $("entries-delimiter").value);
    body.set("file_format", $("entries-format").value);
    runStatus.replaceChildren(el("span", { class: "spinner" }), " Checking " + file.files[0].name + "…");
    $("check-file").disabled = true;
    try {
      const response = await post("/actions/upload", body, "application/json");
      const answer = await response.json().catch(() => ({ html: "" }));
      result.innerHTML = answer.html || "";
      if (!answer.html) throw new Error("no answer");
      const book = $("book-upload");
      if (book) book.addEventListener("click", () => bookUpload(book));
    } catch (e) {
      result.replaceChildren(el("div", { class: "notice bad", role: "alert",
        text: "The file could not be checked: is the exactmate UI still running?" }));
    } finally {
      $("check-file").disabled = false;
      runStatus.textContent = "";
    }
    result.scrollIntoView({ behavior: "smooth", block: "start" });
  }

  /** Book a checked upload and show its progress until the results replace the preview. */
  async function bookUpload(button) {
    const id = button.dataset.uploadId;
    const bar = $("book-progress");
    const status = $("book-status");
    button.disabled = true;
    bar.hidden = false;
    let answer = await (await post("/actions/upload/" + encodeURIComponent(id) + "/book", new FormData(),
      "application/json")).json().catch(() => ({ error: "The booking could not be started." }));
    while (!answer.error && answer.status === "running") {
      bar.value = answer.done;
      status.textContent = "Booked " + answer.done + " of " + answer.total + "…";
      await new Promise((resolve) => setTimeout(resolve, 400));
      const polled = await getJSON("/actions/upload/" + encodeURIComponent(id));
      answer = polled.data;
    }
    if (answer.error) {
      status.textContent = answer.error;
      button.disabled = false;
      return;
    }
    result.innerHTML = answer.html;
  }

  $("check-file").addEventListener("click", checkFile);
  credential.addEventListener("change", () => loadDivisions(false));
  $("reload-divisions").addEventListener("click", () => loadDivisions(true));
  division.addEventListener("input", checkDivision);
  for (const radio of form.querySelectorAll('input[name="action"]')) radio.addEventListener("change", setAction);
  endpoint.addEventListener("input", () => { if (!endpoint.readOnly) loadEndpoint(); });
  key.addEventListener("input", () => { syncListOptions(); checkKey(); });
  fieldSearch.addEventListener("input", filterFields);
  $("return-all").addEventListener("change", syncListOptions);
  form.addEventListener("submit", submit);

  loadDivisions(false);
  setAction();
})();

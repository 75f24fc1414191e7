/* The credential form: Test Connect (with the sign-in in a popup) and the Connect & Create gate.
   Connect & Create is enabled only while the form holds exactly the values of the last successful
   test; the server checks the same again before it saves anything. */
"use strict";

(() => {
  const { post, getJSON, el, fieldError } = exactmate;
  const form = document.getElementById("credential-form");
  if (!form) return;
  const $ = (id) => document.getElementById(id);
  const testButton = $("test-connect");
  const saveButton = $("connect-create");
  const result = $("test-result");
  const gateHint = $("gate-hint");
  const gateText = gateHint.textContent;
  const TESTED = ["name", "auth_type", "server_choice", "server_url", "client_id", "client_secret",
    "refresh_token", "redirect_uri"];
  const POLL_MS = 1000;
  const POLL_LIMIT_MS = 15 * 60 * 1000;

  let tested = null; // the values of the last successful test
  let polling = 0;   // increases with every test, so an older poll stops

  const snapshot = () => JSON.stringify(TESTED.map((name) => form.elements[name] ? form.elements[name].value : ""));

  function gate() {
    const same = tested !== null && tested === snapshot();
    saveButton.disabled = !same;
    if (tested !== null && !same) {
      gateHint.textContent = "A tested value changed: run Test Connect again before saving.";
      gateHint.classList.add("field-error");
    } else {
      gateHint.textContent = same ? "Tested: these values can be saved." : gateText;
      gateHint.classList.remove("field-error");
    }
  }

  function clearErrors() {
    // the webhook secret is saved, not tested: its error is cleared with the tested fields' errors
    for (const name of [...TESTED, "webhook_secret"]) if (form.elements[name]) fieldError(form.elements[name], "");
  }

  function showErrors(errors) {
    for (const [name, message] of Object.entries(errors || {})) {
      const input = form.elements[name];
      if (input) fieldError(input, message);
    }
    const first = Object.keys(errors || {})[0];
    if (first && form.elements[first]) form.elements[first].focus();
  }

  function toggles() {
    $("custom-url-wrap").hidden = $("server_choice").value !== "custom";
    const refresh = $("auth_type").value === "refresh-token";
    $("refresh-token-wrap").hidden = !refresh;
    $("refresh-token-label").hidden = !refresh;
  }

  async function answerOf(response) {
    try {
      return await response.json();
    } catch (e) {
      return { status: "failed", html: "" };
    }
  }

  async function testConnect() {
    clearErrors();
    tested = null;
    gate();
    const started = snapshot();
    const run = ++polling;
    testButton.disabled = true;
    result.replaceChildren(el("div", { class: "notice warn" }, el("span", { class: "spinner" }), " Testing the connection…"));
    let data;
    try {
      data = await answerOf(await post("/vault/test", new FormData(form), "application/json"));
    } catch (e) {
      data = { status: "failed", html: "" };
      result.replaceChildren(el("div", { class: "notice bad", role: "alert",
        text: "The exactmate UI cannot be reached. Is it still running?" }));
      testButton.disabled = false;
      return;
    }
    testButton.disabled = false;
    if (data.html) result.innerHTML = data.html;
    if (data.status === "invalid") { showErrors(data.errors); return; }
    if (data.status === "consent") {
      const popup = window.open(data.authorize_url, "exactmate-sign-in", "width=620,height=760");
      const link = result.querySelector("[data-sign-in]");
      if (link && popup) link.hidden = true;
      data = await poll(data.test_id, run);
      if (popup && !popup.closed) popup.close(); // the sign-in is over: its window is no longer needed
      if (data === null) return;
      if (data.html) result.innerHTML = data.html;
    }
    if (data.status === "ok") {
      tested = started;
      $("test_id").value = data.test_id;
    }
    gate();
  }

  async function poll(testId, run) {
    const until = Date.now() + POLL_LIMIT_MS;
    while (Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      if (run !== polling) return null;
      const answer = await getJSON("/vault/test/" + encodeURIComponent(testId));
      if (!answer.ok) return { status: "failed", html: "", ...answer.data };
      if (answer.data.status === "ok" || answer.data.status === "failed") return answer.data;
    }
    return { status: "failed", html: "" };
  }

  async function save(event) {
    event.preventDefault();
    if (saveButton.disabled) return;
    saveButton.disabled = true;
    const data = await answerOf(await post("/vault/save", new FormData(form), "application/json"));
    if (data.ok && data.redirect) {
      window.location.assign(data.redirect);
      return;
    }
    if (data.html) result.innerHTML = data.html;
    showErrors(data.errors);
    if (data.retest) tested = null;
    gate();
  }

  for (const name of TESTED) {
    const input = form.elements[name];
    if (!input) continue;
    input.addEventListener("input", gate);
    input.addEventListener("change", () => { toggles(); gate(); });
  }
  $("copy-redirect").addEventListener("click", async () => {
    const input = $("redirect_uri");
    try { await navigator.clipboard.writeText(input.value); $("copy-redirect").textContent = "Copied"; }
    catch (e) { input.select(); }
  });
  testButton.addEventListener("click", testConnect);
  form.addEventListener("submit", save);
  toggles();
  gate();
})();

/* The Vault list: the filter box narrows the table as you type (the server filters on submit too),
   and a row's Test button shows its Test Connect outcome in a line under the row. */
"use strict";

(() => {
  const { post, el } = exactmate;
  const filter = document.getElementById("filter");
  const table = document.getElementById("credentials");
  if (!filter || !table) return;
  filter.addEventListener("input", () => {
    const needle = filter.value.trim().toLowerCase();
    for (const row of table.tBodies[0].rows) {
      if (row.classList.contains("test-row")) continue;
      row.hidden = needle !== "" && !row.textContent.toLowerCase().includes(needle);
      const outcome = row.nextElementSibling;
      if (outcome && outcome.classList.contains("test-row") && row.hidden) outcome.hidden = true;
    }
  });

  for (const form of table.querySelectorAll("form[data-row-test]")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const row = form.closest("tr");
      const outcome = row.nextElementSibling;
      const cell = outcome.firstElementChild;
      const button = form.querySelector("button");
      button.disabled = true;
      outcome.hidden = false;
      cell.replaceChildren(el("div", { class: "notice warn", role: "status" },
        el("span", { class: "spinner" }), " Testing " + row.dataset.name + "…"));
      try {
        const response = await post(form.action, new FormData(form), "application/json");
        const answer = await response.json();
        if (answer.html) cell.innerHTML = answer.html;
        else cell.replaceChildren(el("div", { class: "notice bad", role: "alert",
          text: answer.error || "The test could not be run." }));
      } catch (e) {
        cell.replaceChildren(el("div", { class: "notice bad", role: "alert",
          text: "The exactmate UI cannot be reached. Is it still running?" }));
      } finally {
        button.disabled = false;
      }
    });
  }
})();

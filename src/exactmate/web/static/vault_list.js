/* The Vault list: the filter box narrows the table as you type (the server filters on submit too). */
"use strict";

(() => {
  const filter = document.getElementById("filter");
  const table = document.getElementById("credentials");
  if (!filter || !table) return;
  filter.addEventListener("input", () => {
    const needle = filter.value.trim().toLowerCase();
    for (const row of table.tBodies[0].rows) {
      row.hidden = needle !== "" && !row.textContent.toLowerCase().includes(needle);
    }
  });
})();

/* Small helpers shared by the pages: fetch with the CSRF token, debouncing, building elements. */
"use strict";

const exactmate = (() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

  /** POST a FormData (or URLSearchParams) with the page's CSRF token; resolves to the Response. */
  function post(url, body, accept) {
    return fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf(), "Accept": accept || "text/html" },
    });
  }

  /** GET JSON; resolves to {ok, status, data}. Network failures become {ok:false, data:{error}}. */
  async function getJSON(url) {
    try {
      const response = await fetch(url, { credentials: "same-origin",
                                          headers: { "Accept": "application/json", "X-CSRF-Token": csrf() } });
      let data = {};
      try { data = await response.json(); } catch (e) { data = { error: "The UI answered something that is not JSON." }; }
      return { ok: response.ok, status: response.status, data: data };
    } catch (e) {
      return { ok: false, status: 0, data: { error: "The exactmate UI cannot be reached. Is it still running?" } };
    }
  }

  function debounce(fn, ms) {
    let timer = null;
    return (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), ms);
    };
  }

  /** document.createElement with attributes and children (strings become text, never HTML). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  /** Show a field's problem under it (or clear it) and mark the input for assistive technology. */
  function fieldError(input, message) {
    const box = document.getElementById(input.id + "-error");
    if (box) box.textContent = message || "";
    if (message) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }

  return { post, getJSON, debounce, el, fieldError, csrf };
})();

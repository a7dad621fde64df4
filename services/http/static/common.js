/* Shared by both pages: the bearer token, JSON calls to /v1 with problem-details errors, the alert region.
 *
 * The token is never in a URL (where access logs, history and Referer headers would keep it): the first /v1
 * answer of 401 asks for it once, and it is kept in sessionStorage (this tab only). Every /v1 request sends
 * it as `Authorization: Bearer`, including the job event streams and the call audio (both are fetched, not
 * given to EventSource / <audio src>, which cannot send headers). */
"use strict";

const SER = (() => {
  const TOKEN_KEY = "ser.token";

  /** Ask for the token (after a 401); true when one was given. */
  function askForToken() {
    const given = window.prompt("This server needs its API token (SER_GATEWAY_TOKEN):");
    if (!given || !given.trim()) return false;
    sessionStorage.setItem(TOKEN_KEY, given.trim());
    return true;
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  }

  function authHeaders(extra = {}) {
    const t = token();
    return t ? { ...extra, Authorization: `Bearer ${t}` } : { ...extra };
  }

  /** An RFC 9457 problem (or a failure that is not one), shown to the user as `title: detail`. */
  class Problem extends Error {
    constructor(body, status) {
      const title = (body && body.title) || `HTTP ${status}`;
      const detail = (body && body.detail) || "";
      super(detail ? `${title}: ${detail}` : title);
      this.status = status;
      this.code = (body && body.code) || "";
      this.body = body;
    }
  }

  async function problemOf(response) {
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = { title: `HTTP ${response.status}`, detail: response.statusText };
    }
    return new Problem(body, response.status);
  }

  /** fetch() with the token; a 401 asks for the token once and tries again (a body that is a stream cannot
   * be sent twice, so such a request is not retried); a non-2xx answer becomes a Problem. */
  async function request(path, init = {}, retried = false) {
    let response;
    try {
      response = await fetch(path, { ...init, headers: authHeaders(init.headers || {}) });
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new Problem({ title: "Network error", detail: `${path}: ${err.message}` }, 0);
    }
    if (response.status === 401 && !retried && !(init.body instanceof ReadableStream)) {
      sessionStorage.removeItem(TOKEN_KEY);
      if (askForToken()) return request(path, init, true);
    }
    if (!response.ok) throw await problemOf(response);
    return response;
  }

  async function json(path, init = {}) {
    return (await request(path, init)).json();
  }

  function showError(err) {
    const region = document.getElementById("alert");
    region.textContent = err instanceof Error ? err.message : String(err);
    console.error(err);
  }

  function clearError() {
    document.getElementById("alert").textContent = "";
  }

  function setStatus(text) {
    const el = document.getElementById("status");
    if (el) el.textContent = text;
  }

  /** proto JSON carries int64 as strings; everything numeric goes through this. */
  function num(value) {
    const n = Number(value);
    return Number.isFinite(n) ? n : 0;
  }

  function seconds(ms, digits = 1) {
    return `${(num(ms) / 1000).toFixed(digits)} s`;
  }

  /** Make an element; `attrs` become attributes (class, data-*, aria-*), `text` its text content. */
  function el(tag, attrs = {}, text = null, ns = null) {
    const node = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== null) node.textContent = text;
    return node;
  }

  return { token, authHeaders, request, json, Problem, showError, clearError, setStatus, num, seconds, el };
})();

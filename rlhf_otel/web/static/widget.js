// <rlhf-feedback>: a dependency-free feedback widget for rlhf-otel's feedback service.
//
//   <script type="module" src="/rlhf/widget.js"></script>
//   <rlhf-feedback endpoint="/rlhf" token="..." interaction-id="..."
//                  controls="thumbs stars comment dimensions" dimensions="accuracy,clarity">
//   <rlhf-feedback endpoint="/rlhf" token="..." interaction-ids="idA idB" controls="ab"
//                  labels="Answer A|Answer B">
//
// Submissions go through one queue per endpoint, kept in localStorage: they are sent in
// order, retried with backoff while offline or on 5xx/429, and what is left is sent with
// sendBeacon when the page hides; what is still queued is sent when the page loads again
// and when the network comes back (the "online" event). A retry carries the same
// client_key, so the server stores it once; a changed vote names the id of the version it
// replaces (supersedes). Each control shows the status of its own vote beside it.

const STORE_PREFIX = "rlhf-feedback:";
const MAX_BACKOFF_MS = 30000;
const bus = new EventTarget();
const queues = new Map();

function randomKey() {
  if (globalThis.crypto && crypto.getRandomValues) {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  return Date.now().toString(36) + Math.random().toString(36).slice(2);
}

function load(key, fallback) {
  try {
    const raw = localStorage.getItem(key);
    return raw ? JSON.parse(raw) : fallback;
  } catch (_) {
    return fallback;
  }
}

function save(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch (_) {
    // storage full or disabled: the queue still lives in memory for this page
  }
}

// One ordered, persistent queue of submissions per endpoint.
class Queue {
  constructor(endpoint) {
    this.endpoint = endpoint.replace(/\/+$/, "");
    this.key = STORE_PREFIX + "queue:" + this.endpoint;
    this.lastKey = STORE_PREFIX + "last:" + this.endpoint;
    this.items = load(this.key, []).map((item) => Object.assign(item, { restored: true }));
    this.last = load(this.lastKey, {});
    this.busy = false;
    this.timer = null;
    this.backoff = 1000;
    addEventListener("online", () => this.flush(true));
    addEventListener("pagehide", () => this.beacon());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden") this.beacon();
    });
    if (this.items.length) setTimeout(() => this.flush(true), 0);
  }

  persist() {
    save(this.key, this.items);
    save(this.lastKey, this.last);
  }

  slot(item) {
    return item.body.token + "\u001f" + item.body.type;
  }

  emit(item, state, message, id) {
    bus.dispatchEvent(
      new CustomEvent("rlhf-status", {
        detail: { slot: item.slot, state, message, id: id || null },
      }),
    );
  }

  schedule(delay) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(true), delay);
  }

  async flush(force) {
    if (this.busy || (!force && this.timer)) return;
    this.busy = true;
    try {
      while (this.items.length) {
        const item = this.items[0];
        // a changed vote names the latest version the server confirmed for its slot
        const body = Object.assign({}, item.body);
        if (item.replaces && this.last[item.slot]) body.supersedes = this.last[item.slot];
        // a resend may already be stored (lost answer): the server then looks it up by id
        if (item.tries > 0 || item.restored) body.retry = true;
        item.tries += 1;
        let response;
        try {
          response = await fetch(this.endpoint + "/feedback", {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(body),
            keepalive: true,
            credentials: "omit",
          });
        } catch (_) {
          this.emit(item, "queued", "Offline: saved on this device, will send when back online.");
          this.schedule(this.nextBackoff());
          return;
        }
        let answer = {};
        try {
          answer = await response.json();
        } catch (_) {
          answer = {};
        }
        if (response.ok) {
          this.items.shift();
          this.last[item.slot] = answer.id;
          this.persist();
          this.backoff = 1000;
          this.emit(item, "saved", "Saved. Thank you!", answer.id);
          continue;
        }
        if (response.status === 429 || response.status >= 500) {
          const retry = Number(response.headers.get("retry-after")) * 1000;
          this.emit(item, "queued", "The server is busy; will retry shortly.");
          this.schedule(retry > 0 ? retry : this.nextBackoff());
          return;
        }
        // refused for good (expired token, not allowed, invalid): say so, never drop silently
        this.items.shift();
        this.persist();
        const detail = answer.detail || "the server refused this feedback (" + response.status + ")";
        this.emit(item, "error", "Not saved: " + detail);
      }
    } finally {
      this.busy = false;
    }
  }

  nextBackoff() {
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
    return delay + Math.floor(Math.random() * 250);
  }

  beacon() {
    if (!this.items.length || !navigator.sendBeacon) return;
    // only the newest unsent submission of each slot still matters
    const newest = new Map();
    for (const item of this.items) newest.set(item.slot, item);
    const items = [];
    for (const item of newest.values()) {
      const body = Object.assign({}, item.body, { retry: true });
      if (item.replaces && this.last[item.slot]) body.supersedes = this.last[item.slot];
      items.push(body);
    }
    for (let i = 0; i < items.length; i += 50) {
      const blob = new Blob([JSON.stringify({ items: items.slice(i, i + 50) })], {
        type: "application/json",
      });
      try {
        navigator.sendBeacon(this.endpoint + "/feedback/batch", blob);
      } catch (_) {
        // the queue stays in localStorage and is sent on the next visit
      }
    }
  }
}

function queueFor(endpoint) {
  const key = endpoint.replace(/\/+$/, "");
  if (!queues.has(key)) queues.set(key, new Queue(key));
  return queues.get(key);
}

// Votes queued on an earlier visit go out now, whether or not a widget is on this page.
function resumeQueues() {
  try {
    for (let i = 0; i < localStorage.length; i++) {
      const name = localStorage.key(i);
      if (!name || !name.startsWith(STORE_PREFIX + "queue:")) continue;
      const endpoint = name.slice((STORE_PREFIX + "queue:").length);
      if (endpoint && load(name, []).length) queueFor(endpoint);
    }
  } catch (_) {
    // storage disabled: nothing was kept
  }
}

const ICONS = {
  thumbs_up: "M2 21h4V9H2v12zm20-11c0-1.1-.9-2-2-2h-6.3l1-4.6v-.3c0-.4-.2-.8-.4-1.1L13.2 1 6.6 7.6C6.2 8 6 8.5 6 9v10c0 1.1.9 2 2 2h9c.8 0 1.5-.5 1.8-1.2l3-7.1c.1-.2.2-.5.2-.7v-2z",
  thumbs_down: "M22 3h-4v12h4V3zM2 14c0 1.1.9 2 2 2h6.3l-1 4.6v.3c0 .4.2.8.4 1.1l1.1 1 6.6-6.6c.4-.4.6-.9.6-1.4V5c0-1.1-.9-2-2-2H7c-.8 0-1.5.5-1.8 1.2l-3 7.1c-.1.2-.2.5-.2.7v2z",
  star: "M12 17.3l6.2 3.7-1.6-7 5.4-4.7-7.2-.6L12 2 9.2 8.7 2 9.3l5.4 4.7-1.6 7z",
};

function icon(name) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", "icon");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", ICONS[name]);
  svg.append(path);
  return svg;
}

const LABELS = {
  binary: "Thumbs",
  rating: "Rating",
  multi_dimensional: "Scores",
  comparative: "Choice",
  text: "Comment",
};

const STYLE = `
:host { display: block; font: inherit; color: inherit; color-scheme: light dark; }
[hidden] { display: none !important; }
.row { display: flex; flex-wrap: wrap; gap: .4em; align-items: center; margin: .25em 0; }
button { font: inherit; cursor: pointer; border: 1px solid #767676; border-radius: .4em;
  background: transparent; color: inherit; padding: .2em .6em; display: inline-flex;
  align-items: center; gap: .3em; }
button[aria-pressed="true"], button[aria-checked="true"] { background: #1d4ed8; color: #fff;
  border-color: #1d4ed8; }
button:focus-visible, textarea:focus-visible, select:focus-visible {
  outline: 3px solid #f59e0b; outline-offset: 2px; }
.icon { width: 1.2em; height: 1.2em; fill: currentColor; }
.stars button { border: 1px solid transparent; padding: .1em; background: none; color: #767676; }
.stars button .icon { width: 1.5em; height: 1.5em; }
.stars button.on { color: #b45309; }
.stars button[aria-checked="true"] { background: none; color: #b45309; border-color: #767676; }
textarea, select { font: inherit; box-sizing: border-box; background: Field; color: FieldText;
  border: 1px solid #767676; border-radius: .3em; }
textarea { width: 100%; min-height: 3em; }
.status { min-height: 1.2em; font-size: .9em; margin: 0 0 0 .3em; }
.status[data-state="error"] { color: #b00020; }
.status[data-state="saved"] { color: #166534; }
@media (prefers-color-scheme: dark) {
  .status[data-state="error"] { color: #fca5a5; }
  .status[data-state="saved"] { color: #86efac; }
  .stars button.on, .stars button[aria-checked="true"] { color: #fbbf24; }
  .stars button { color: #a3a3a3; }
}
@media (pointer: coarse) {
  button, select { min-width: 44px; min-height: 44px; }
  textarea { min-height: 44px; }
}
`;

class RLHFFeedback extends HTMLElement {
  static get observedAttributes() {
    return ["token", "endpoint", "interaction-id", "interaction-ids", "controls"];
  }

  constructor() {
    super();
    this.attachShadow({ mode: "open" });
    this.onStatus = (event) => this.showStatus(event.detail);
  }

  connectedCallback() {
    bus.addEventListener("rlhf-status", this.onStatus);
    this.render();
    const endpoint = this.getAttribute("endpoint");
    if (endpoint) queueFor(endpoint); // sends what an earlier visit left queued
  }

  disconnectedCallback() {
    bus.removeEventListener("rlhf-status", this.onStatus);
  }

  attributeChangedCallback() {
    if (this.isConnected) this.render();
  }

  get ids() {
    const many = this.getAttribute("interaction-ids");
    if (many) return many.split(/[\s,]+/).filter(Boolean);
    const one = this.getAttribute("interaction-id");
    return one ? [one] : [];
  }

  get controls() {
    return (this.getAttribute("controls") || "thumbs").split(/[\s,]+/).filter(Boolean);
  }

  el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  render() {
    const root = this.shadowRoot;
    root.textContent = "";
    root.append(this.el("style", {}, STYLE));
    const wrap = this.el("div", { role: "group", "aria-label": "Feedback on this answer" });
    const controls = this.controls;
    this.statusNodes = {};
    const add = (type, node) => {
      const status = this.el("span", { class: "status", role: "status", "data-for": type });
      this.statusNodes[type] = status;
      node.append(status);
      wrap.append(node);
    };
    if (controls.includes("thumbs")) add("binary", this.thumbs());
    if (controls.includes("stars")) add("rating", this.stars());
    if (controls.includes("dimensions")) add("multi_dimensional", this.dimensions());
    if (controls.includes("ab")) add("comparative", this.pair());
    if (controls.includes("comment")) add("text", this.comment());
    this.statusNode = this.el("p", { class: "status", role: "status", "data-for": "any" });
    wrap.append(this.statusNode);
    root.append(wrap);
  }

  thumbs() {
    const row = this.el("div", { class: "row thumbs" });
    const make = (value, label) => {
      const b = this.el("button", {
        type: "button",
        part: value,
        "data-value": value,
        "aria-label": label,
        "aria-pressed": "false",
      });
      b.append(icon(value));
      b.addEventListener("click", () => {
        if (b.getAttribute("aria-pressed") === "true") return; // same vote again: nothing new
        for (const other of row.querySelectorAll("button")) other.setAttribute("aria-pressed", "false");
        b.setAttribute("aria-pressed", "true");
        this.submit("binary", { value });
      });
      return b;
    };
    row.append(make("thumbs_up", "Good answer"), make("thumbs_down", "Bad answer"));
    return row;
  }

  stars() {
    const row = this.el("div", { class: "row stars", role: "radiogroup", "aria-label": "Rate this answer from 1 to 5 stars" });
    const buttons = [];
    let current = 0;
    // arrows move the focus only; Enter, Space or a click commits the focused star
    const paint = (n) => {
      buttons.forEach((b, i) => {
        b.classList.toggle("on", i < n);
        b.setAttribute("aria-checked", String(i + 1 === n));
      });
    };
    const focusStar = (n) => {
      buttons.forEach((b, i) => { b.tabIndex = i + 1 === n ? 0 : -1; });
      buttons[n - 1].focus();
    };
    const choose = (n) => {
      if (n === current) return;
      current = n;
      paint(n);
      focusStar(n);
      this.submit("rating", { rating: n, min_rating: 1, max_rating: 5 });
    };
    for (let n = 1; n <= 5; n++) {
      const b = this.el("button", {
        type: "button",
        role: "radio",
        "data-value": String(n),
        "aria-label": n + (n === 1 ? " star" : " stars"),
        "aria-checked": "false",
      });
      b.append(icon("star"));
      b.addEventListener("click", () => choose(n));
      b.addEventListener("keydown", (e) => {
        let next = null;
        if (e.key === "ArrowRight" || e.key === "ArrowUp") next = Math.min(5, n + 1);
        else if (e.key === "ArrowLeft" || e.key === "ArrowDown") next = Math.max(1, n - 1);
        else if (e.key === "Home") next = 1;
        else if (e.key === "End") next = 5;
        if (next !== null) {
          e.preventDefault();
          focusStar(next);
        }
      });
      buttons.push(b);
      row.append(b);
    }
    paint(0);
    buttons.forEach((b, i) => { b.tabIndex = i === 0 ? 0 : -1; });
    return row;
  }

  dimensions() {
    const names = (this.getAttribute("dimensions") || "accuracy,helpfulness").split(",").map((s) => s.trim()).filter(Boolean);
    const box = this.el("div", { class: "dimensions", role: "group", "aria-label": "Scores by dimension" });
    const selects = {};
    for (const name of names) {
      const row = this.el("div", { class: "row" });
      const id = "dim-" + name.replace(/[^A-Za-z0-9_-]/g, "_");
      const label = this.el("label", { for: id }, name);
      const select = this.el("select", { id, "data-dimension": name, "aria-label": name + " score, 1 to 5" });
      for (let n = 1; n <= 5; n++) select.append(this.el("option", { value: String(n) }, String(n)));
      select.value = "3";
      selects[name] = select;
      row.append(label, select);
      box.append(row);
    }
    const send = this.el("button", { type: "button", class: "send-dimensions" }, "Send scores");
    send.addEventListener("click", () => {
      const dims = {};
      for (const [name, s] of Object.entries(selects)) dims[name] = Number(s.value);
      this.submit("multi_dimensional", { dimensions: dims });
    });
    box.append(send);
    return box;
  }

  pair() {
    const ids = this.ids;
    const labels = (this.getAttribute("labels") || "").split("|").filter(Boolean);
    const row = this.el("div", { class: "row ab", role: "group", "aria-label": "Which answer is better?" });
    ids.forEach((id, i) => {
      const name = labels[i] || "Answer " + String.fromCharCode(65 + i);
      const b = this.el("button", {
        type: "button",
        "data-choice": String.fromCharCode(65 + i),
        "aria-pressed": "false",
        "aria-label": name + " is better",
      }, name + " is better");
      b.addEventListener("click", () => press(b, {
        preferred_response_id: id,
        compared_response_ids: ids.filter((x) => x !== id),
      }));
      row.append(b);
    });
    const press = (b, data) => {
      if (b.getAttribute("aria-pressed") === "true") return;
      for (const other of row.querySelectorAll("button")) other.setAttribute("aria-pressed", "false");
      b.setAttribute("aria-pressed", "true");
      this.submit("comparative", data);
    };
    if (ids.length === 2) {
      for (const [outcome, text] of [["tie", "About the same"], ["both_bad", "Both bad"]]) {
        const b = this.el("button", { type: "button", "data-choice": outcome, "aria-pressed": "false" }, text);
        // tie and both-bad keep the display order: the first answer named, the second compared
        b.addEventListener("click", () => press(b, {
          preferred_response_id: ids[0], compared_response_ids: [ids[1]], outcome,
        }));
        row.append(b);
      }
    }
    return row;
  }

  comment() {
    const box = this.el("div", { class: "comment" });
    const id = "comment-text";
    const label = this.el("label", { for: id }, "Comment");
    const text = this.el("textarea", { id, maxlength: "4000", "aria-label": "Your comment on this answer" });
    const send = this.el("button", { type: "button", class: "send-comment" }, "Send comment");
    send.addEventListener("click", () => {
      const comment = text.value.trim();
      if (!comment) {
        this.showStatus({ slot: null, type: "text", state: "error", message: "Write a comment first." }, true);
        return;
      }
      this.submit("text", { comment });
      text.value = "";
    });
    box.append(label, text, send);
    return box;
  }

  submit(type, data) {
    const endpoint = this.getAttribute("endpoint");
    const token = this.getAttribute("token");
    if (!endpoint || !token) {
      this.showStatus({ slot: null, state: "error", message: "Feedback is not available (no endpoint or token)." }, true);
      return;
    }
    const body = { token, type, data, client_key: randomKey() };
    const ids = this.ids;
    if (type !== "comparative" && ids.length) body.interaction_id = ids[0];
    const queue = queueFor(endpoint);
    const item = { body, tries: 0 };
    item.slot = queue.slot(item);
    // text comments add up; every other type is one current vote that a change replaces
    item.replaces = type !== "text";
    queue.items.push(item);
    queue.persist();
    queue.emit(item, "sending", "Sending\u2026");
    queue.flush(true);
  }

  showStatus(detail, local) {
    if (!local && detail.slot && !detail.slot.startsWith(this.getAttribute("token") + "\u001f")) return;
    if (!this.statusNode) return;
    const type = detail.type || (detail.slot ? detail.slot.split("\u001f")[1] : null);
    const node = (type && this.statusNodes[type]) || this.statusNode;
    node.textContent = (type && LABELS[type] ? LABELS[type] + ": " : "") + detail.message;
    node.dataset.state = detail.state;
    this.setAttribute("data-state", detail.state);
    this.dispatchEvent(new CustomEvent("rlhf-feedback-status", { detail, bubbles: true, composed: true }));
  }
}

if (!customElements.get("rlhf-feedback")) customElements.define("rlhf-feedback", RLHFFeedback);
resumeQueues();

export { RLHFFeedback, queueFor };

// rlhf-otel review app: keyboard-first reviewing. No dependencies, no build step.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const S = {
    session: null, reviewer: null, queue: null,
    item: null, lease: null, answers: {}, sub: null,
    mode: "head",          // "head": the leased item; "history": one of my reviews; "done": nothing left
    history: [], index: -1, // my reviewed item keys, and where K/J put us in them
    active: 0,             // highlighted score field
    revealed: false, busy: false, conflict: null,
  };
  const client = (() => {
    let id = sessionStorage.getItem("rlhf-review-client");
    if (!id) { id = randomId(); sessionStorage.setItem("rlhf-review-client", id); }
    return id;
  })();

  function randomId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = new Uint8Array(16); crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }

  async function api(method, path, body) {
    const headers = { "content-type": "application/json" };
    if (S.session) headers.authorization = "Bearer " + S.session;
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    let data = null;
    try { data = await res.json(); } catch (e) { data = { error: "bad_response", detail: "the server answered " + res.status }; }
    if (res.status === 401 && path !== "/api/signin") { showSignIn(data.detail); throw new Error(data.detail); }
    return { status: res.status, data };
  }

  function say(text) { $("status").textContent = text; }
  function alarm(text) { $("alert").textContent = text || ""; }

  // ------------------------------------------------------------------ sign-in
  function showSignIn(message) {
    S.session = null; localStorage.removeItem("rlhf-review-session");
    $("signin").hidden = false; $("review").hidden = true; $("stats").hidden = true;
    const saved = localStorage.getItem("rlhf-review-name");
    if (saved) $("reviewer").value = saved;
    if (message) alarm(message);
    $("reviewer").focus();
  }

  async function signIn(ev) {
    ev.preventDefault();
    const reviewer = $("reviewer").value.trim();
    const { status, data } = await api("POST", "/api/signin", { reviewer, token: $("token").value || null });
    if (status !== 200) { alarm(data.detail); return; }
    S.session = data.session; S.reviewer = data.reviewer; S.queue = data.queue;
    localStorage.setItem("rlhf-review-session", JSON.stringify({ session: S.session, reviewer: S.reviewer }));
    localStorage.setItem("rlhf-review-name", S.reviewer);
    $("token").value = "";
    await start();
  }

  async function start() {
    if (!S.queue) S.queue = (await api("GET", "/api/queue")).data;
    $("signin").hidden = true; $("review").hidden = false; $("stats").hidden = false;
    $("queue-name").textContent = "queue " + S.queue.name + (S.queue.blind ? " (blind)" : "");
    $("who").textContent = "signed in as " + S.reviewer;
    buildRubric();
    alarm("");
    document.activeElement && document.activeElement.blur();
    await loadHistory();
    await next(false);
    refreshProgress();
  }

  // ------------------------------------------------------------------ rubric
  function types() { return S.queue.rubric.types; }
  function scoreFields() {
    const f = [];
    if (types().includes("rating")) f.push("rating");
    if (types().includes("multi_dimensional")) Object.keys(S.queue.rubric.dimensions).forEach((d) => f.push("dim:" + d));
    return f;
  }

  function buildRubric() {
    const t = types(), scale = S.queue.rubric.scale;
    $("f-vote").hidden = !t.includes("comparative");
    $("f-binary").hidden = !t.includes("binary");
    $("f-text").hidden = !t.includes("text");
    $("correction-box").hidden = true;
    $("comment").previousElementSibling.textContent = S.queue.pairwise ? "Reason (C)" : "Comment (C)";
    const box = $("f-scores"); box.textContent = "";
    scoreFields().forEach((field, i) => {
      const row = document.createElement("div");
      row.className = "score"; row.dataset.field = field;
      const name = field === "rating" ? "Rating" : field.slice(4);
      row.setAttribute("role", "radiogroup");
      row.setAttribute("aria-label", name + " (" + scale.min + "-" + scale.max + ")");
      const label = document.createElement("span"); label.className = "name"; label.textContent = name;
      row.appendChild(label);
      for (let v = scale.min; v <= scale.max; v++) {
        const b = document.createElement("button");
        b.type = "button"; b.textContent = String(v); b.dataset.value = String(v);
        b.setAttribute("role", "radio"); b.setAttribute("aria-checked", "false");
        b.setAttribute("aria-label", name + " " + v);
        b.addEventListener("click", () => { S.active = i; setScore(field, v); });
        row.appendChild(b);
      }
      box.appendChild(row);
    });
  }

  function setScore(field, v) {
    if (field === "rating") S.answers.rating = v;
    else { S.answers.dimensions = S.answers.dimensions || {}; S.answers.dimensions[field.slice(4)] = v; }
    const fields = scoreFields();
    const nextEmpty = fields.findIndex((f, i) => i > S.active && scoreOf(f) === undefined);
    if (nextEmpty >= 0) S.active = nextEmpty;
    paint();
  }
  function scoreOf(field) {
    return field === "rating" ? S.answers.rating : (S.answers.dimensions || {})[field.slice(4)];
  }

  function paint() {
    const a = S.answers;
    document.querySelectorAll("[data-vote]").forEach((b) => b.setAttribute("aria-checked", String(a.vote === b.dataset.vote)));
    document.querySelectorAll("[data-binary]").forEach((b) => b.setAttribute("aria-checked", String(a.binary === b.dataset.binary)));
    scoreFields().forEach((field, i) => {
      const row = document.querySelector('.score[data-field="' + field + '"]');
      if (!row) return;
      row.classList.toggle("active", i === S.active);
      row.querySelectorAll("button").forEach((b) => b.setAttribute("aria-checked", String(Number(b.dataset.value) === scoreOf(field))));
    });
  }

  // ------------------------------------------------------------------ items
  function show(item, answers, mode) {
    S.item = item; S.answers = Object.assign({}, answers || {}); S.sub = randomId();
    S.mode = mode; S.active = 0; S.revealed = false; S.conflict = null;
    $("item").dataset.key = item ? item.key : "";
    say("");
    $("empty").hidden = !!item; $("item").hidden = !item; $("rubric").hidden = !item;
    if (!item) { $("mode").textContent = ""; return; }
    $("mode").textContent = (mode === "history" ? "Your review (change it and press Enter) · " : "") + "item " + item.position;
    const ctx = $("context"); ctx.textContent = "";
    (item.context || []).forEach((m) => {
      const p = document.createElement("p"); p.className = "muted"; p.textContent = m.role + ": " + (m.content || ""); ctx.appendChild(p);
    });
    $("prompt").textContent = item.prompt;
    $("single").hidden = item.kind !== "single"; $("pair").hidden = item.kind !== "pair";
    if (item.kind === "single") {
      $("response").textContent = item.response;
      $("model").textContent = item.model ? "(" + item.model + ")" : "";
    } else {
      $("answer-a").textContent = item.sides[0].response;
      $("answer-b").textContent = item.sides[1].response;
      revealModels(item.sides[0].model, item.sides[1].model);
    }
    const others = item.feedback;
    $("others").hidden = !others || !others.length;
    const list = $("others-list"); list.textContent = "";
    (others || []).forEach((f) => {
      const li = document.createElement("li");
      li.textContent = (f.source || "?") + " · " + (f.user || "anonymous") + " · " + f.type + ": " + JSON.stringify(f.data);
      list.appendChild(li);
    });
    $("comment").value = S.answers.comment || "";
    const correction = S.answers.correction;
    $("correction").value = correction || (item.kind === "single" ? item.response : "");
    $("correction-box").hidden = !correction;
    paint();
  }

  function revealModels(a, b) {
    $("model-a").textContent = a ? "(" + a + ")" : "";
    $("model-b").textContent = b ? "(" + b + ")" : "";
  }

  async function next(takeover) {
    const { status, data } = await api("POST", "/api/next", { client, takeover: !!takeover });
    if (status === 409) {
      show(null, null, "head"); $("empty").hidden = true;
      S.conflict = data.error;
      alarm(data.detail + " — press O to take it over here.");
      return;
    }
    if (status !== 200) { alarm(data.detail); return; }
    S.index = S.history.length; alarm("");
    S.lease = data.lease ? data.lease.id : null;
    show(data.item, null, data.item ? "head" : "done");
    $("empty").dataset.waiting = data.item ? "" : String(data.waiting || 0);
    if (!data.item && data.waiting) say("Nothing for you right now: " + data.waiting + " item(s) are open with other reviewers and may come back. Press J to check again.");
    else if (!data.item) say("Nothing left for you in this queue.");
  }

  async function loadHistory() {
    const { data } = await api("GET", "/api/mine");
    S.history = data.items || []; S.index = S.history.length;
  }

  async function openHistory(i) {
    const key = S.history[i];
    const { status, data } = await api("GET", "/api/item?key=" + encodeURIComponent(key));
    if (status !== 200) { alarm(data.detail); return; }
    S.index = i; alarm("");
    show(data.item, data.answers, "history");
    say("Your review " + (i + 1) + " of " + S.history.length + ".");
  }

  async function back() {
    if (!S.history.length) { say("No earlier reviews yet."); return; }
    await openHistory(Math.max(0, (S.mode === "history" ? S.index : S.history.length) - 1));
  }

  async function forward() {
    if (S.mode === "history" && S.index + 1 < S.history.length) { await openHistory(S.index + 1); return; }
    if (S.mode === "head" && S.item && !S.revealed && S.lease) {
      await api("POST", "/api/skip", { lease: S.lease });
      say("Skipped; it goes to another reviewer.");
    }
    await next(false);
  }

  async function submit() {
    if (!S.item || S.busy) return;
    if (S.revealed) { await next(false); return; }
    const t = types(), a = S.answers;
    const answers = {};
    if (t.includes("comparative")) answers.vote = a.vote;
    if (t.includes("binary")) answers.binary = a.binary;
    if (t.includes("rating")) answers.rating = a.rating;
    if (t.includes("multi_dimensional")) answers.dimensions = a.dimensions || {};
    if (t.includes("text")) {
      answers.comment = $("comment").value.trim() || null;
      const corr = $("correction-box").hidden ? "" : $("correction").value;
      answers.correction = corr.trim() && corr !== S.item.response ? corr : null;
    }
    S.busy = true;
    let res;
    try {
      res = await api("POST", "/api/submit", {
        item: S.item.key, lease: S.lease, submission: S.sub, answers, revise: S.mode === "history",
      });
    } finally { S.busy = false; }
    const { status, data } = res;
    if (status !== 200) { alarm(data.detail); return; }
    alarm("");
    const wasHistory = S.mode === "history";
    if (!wasHistory && !S.history.includes(S.item.key)) S.history.push(S.item.key);
    refreshProgress();
    if (data.reveal) {
      S.revealed = true; revealModels(data.reveal.A, data.reveal.B);
      say("Saved. A was " + data.reveal.A + ", B was " + data.reveal.B + ". Press Enter or J for the next item.");
      return;
    }
    if (wasHistory) { say("Changed; the earlier answer no longer counts."); return; }
    say("Saved.");
    await next(false);
  }

  // ------------------------------------------------------------------ progress
  const fmt = (x, d) => (x === null || x === undefined ? "–" : Number(x).toFixed(d === undefined ? 3 : d));
  async function refreshProgress() {
    if (!S.session) return;
    const { status, data } = await api("GET", "/api/progress");
    if (status !== 200) return;
    const me = data.me || {};
    $("mine").textContent = me.reviews + " done · " + me.remaining + " left for you";
    $("progress").textContent = data.complete + " of " + data.items + " items complete · " +
      data.reviews + " of " + data.reviews_needed + " reviews · " + data.leased + " open now";
    const rows = (id, list, cells) => {
      const body = document.querySelector("#" + id + " tbody"); body.textContent = "";
      list.forEach((r) => {
        const tr = document.createElement("tr");
        cells(r).forEach((c) => { const td = document.createElement("td"); td.textContent = c; tr.appendChild(td); });
        body.appendChild(tr);
      });
    };
    rows("agreement", data.agreement, (a) => [a.kind, a.items, a.raters, fmt(a.krippendorff_alpha), fmt(a.fleiss_kappa), fmt(a.cohen_kappa)]);
    rows("reviewers", Object.entries(data.reviewers), ([n, r]) => [n, r.reviews, fmt(r.items_per_hour, 1), fmt(r.median_seconds_per_item, 1)]);
  }

  // ------------------------------------------------------------------ keys
  function toggleHelp(open) {
    const h = $("help"); h.hidden = open === undefined ? !h.hidden : !open;
  }

  function openText(id) {
    if ($("f-text").hidden) { say("This queue has no comments or corrections."); return; }
    if (id === "correction") $("correction-box").hidden = false;
    $(id).focus();
  }

  async function onKey(ev) {
    if ($("signin").hidden === false) return;
    const inText = ev.target && (ev.target.tagName === "TEXTAREA" || ev.target.tagName === "INPUT");
    if (ev.key === "Escape") { toggleHelp(false); if (inText) ev.target.blur(); return; }
    if (inText) {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); ev.target.blur(); await submit(); }
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const k = ev.key;
    if (k === "?") { toggleHelp(); ev.preventDefault(); return; }
    if (!$("help").hidden) return;
    const lower = k.length === 1 ? k.toLowerCase() : k;
    const pair = S.queue && S.queue.pairwise;
    let handled = true;
    if (lower === "o" && S.conflict === "open_in_other_tab") { await next(true); }
    else if (lower === "j") { await forward(); }
    else if (lower === "k") { await back(); }
    else if (k === "Enter") { await submit(); }
    else if (!S.item || S.revealed) { handled = false; }
    else if (pair && ["a", "b", "t", "x"].includes(lower)) {
      S.answers.vote = { a: "A", b: "B", t: "tie", x: "both_bad" }[lower]; paint();
    } else if (!pair && lower === "u" && types().includes("binary")) { S.answers.binary = "thumbs_up"; paint(); }
    else if (!pair && lower === "d" && types().includes("binary")) { S.answers.binary = "thumbs_down"; paint(); }
    else if (/^[0-9]$/.test(k) && scoreFields().length) {
      const v = Number(k), sc = S.queue.rubric.scale;
      if (v >= sc.min && v <= sc.max) setScore(scoreFields()[S.active], v); else say("Scores go from " + sc.min + " to " + sc.max + ".");
    } else if (k === "ArrowDown" && scoreFields().length) { S.active = Math.min(S.active + 1, scoreFields().length - 1); paint(); }
    else if (k === "ArrowUp" && scoreFields().length) { S.active = Math.max(S.active - 1, 0); paint(); }
    else if (lower === "e") { openText(pair ? "comment" : "correction"); }
    else if (lower === "c") { openText("comment"); }
    else { handled = false; }
    if (handled) ev.preventDefault();
  }

  // ------------------------------------------------------------------ wiring
  document.addEventListener("DOMContentLoaded", () => {
    $("signin-form").addEventListener("submit", signIn);
    $("rubric").addEventListener("submit", (ev) => { ev.preventDefault(); submit(); });
    $("help-button").addEventListener("click", () => toggleHelp());
    document.querySelectorAll("[data-vote]").forEach((b) => b.addEventListener("click", () => { S.answers.vote = b.dataset.vote; paint(); }));
    document.querySelectorAll("[data-binary]").forEach((b) => b.addEventListener("click", () => { S.answers.binary = b.dataset.binary; paint(); }));
    document.addEventListener("keydown", (ev) => { onKey(ev).catch((e) => alarm(String(e.message || e))); });
    setInterval(refreshProgress, 10000);
    const saved = JSON.parse(localStorage.getItem("rlhf-review-session") || "null");
    if (saved && saved.session) {
      S.session = saved.session; S.reviewer = saved.reviewer;
      start().catch(() => showSignIn());
    } else {
      showSignIn();
    }
  });
})();

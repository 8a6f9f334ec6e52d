// rlhf-otel review app: keyboard-first reviewing. No dependencies, no build step.
// Untrusted text (prompts, answers, guidelines, feedback) only reaches the page as text
// nodes or through RlhfRender.markdown, which builds nodes; nothing is parsed as HTML.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const S = {
    session: null, reviewer: null, queue: null, auth: "open",
    item: null, lease: null, answers: {}, sub: null,
    mode: "head",          // "head": the leased item; "history": one of my reviews; "done": nothing left
    history: [], index: -1, // my reviewed item keys, and where K/J put us in them
    active: 0,             // highlighted score field
    revealed: false, busy: false, conflict: null, lastFocus: null,
  };
  const client = (() => {
    let id = sessionStorage.getItem("rlhf-review-client");
    if (!id) { id = randomId(); sessionStorage.setItem("rlhf-review-client", id); }
    return id;
  })();
  const REASONS = ["cannot judge (needs expertise)", "prompt unclear", "answer missing or broken", "sensitive content", "other"];

  function randomId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = new Uint8Array(16); crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }
  function el(tag, cls, text) {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined) n.textContent = text;
    return n;
  }
  function md(node, text) { node.textContent = ""; node.appendChild(window.RlhfRender.markdown(text || "")); }

  async function api(method, path, body) {
    const headers = { "content-type": "application/json" };
    if (S.session) headers.authorization = "Bearer " + S.session;
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    let data = null;
    try { data = await res.json(); } catch (e) { data = { error: "bad_response", detail: "the server answered " + res.status }; }
    if (res.status === 401 && path !== "/api/signin") { showSignIn(data.detail); throw new Error(data.detail); }
    return { status: res.status, data };
  }

  // A confirmation stays until the reviewer's next action (clear() is called there).
  function say(text) { $("status").textContent = text || ""; }
  function alarm(text) { $("alert").textContent = text || ""; }
  function clear() { say(""); alarm(""); }

  // ------------------------------------------------------------------ sign-in
  function showSignIn(message) {
    S.session = null; localStorage.removeItem("rlhf-review-session");
    $("signin").hidden = false; $("review").hidden = true; $("stats").hidden = true;
    $("name-row").hidden = S.auth === "reviewers";
    $("token-row").hidden = S.auth === "open";
    const saved = localStorage.getItem("rlhf-review-name");
    if (saved) $("reviewer").value = saved;
    $("signin-alert").textContent = message || "";
    (S.auth === "reviewers" ? $("token") : $("reviewer")).focus();
  }

  async function signIn(ev) {
    if (ev) ev.preventDefault();
    const reviewer = $("reviewer").value.trim();
    const token = $("token").value || null;
    const missing = [];
    if (S.auth !== "reviewers" && S.auth !== "proxy" && !reviewer) missing.push("your reviewer name");
    if ((S.auth === "reviewers" || S.auth === "shared") && !token) missing.push("your reviewer token");
    if (missing.length) { $("signin-alert").textContent = "Please give " + missing.join(" and ") + "."; return; }
    const { status, data } = await api("POST", "/api/signin", { reviewer, token });
    if (status !== 200) { $("signin-alert").textContent = data.detail; return; }
    S.session = data.session; S.reviewer = data.reviewer; S.queue = data.queue;
    localStorage.setItem("rlhf-review-session", JSON.stringify({ session: S.session, reviewer: S.reviewer }));
    if (S.auth !== "reviewers") localStorage.setItem("rlhf-review-name", S.reviewer);
    $("token").value = "";
    await start();
  }

  async function start() {
    if (!S.queue) S.queue = (await api("GET", "/api/queue")).data;
    $("signin").hidden = true; $("review").hidden = false; $("stats").hidden = false;
    $("signin-alert").textContent = "";
    $("queue-name").textContent = "queue " + S.queue.name + (S.queue.blind ? " (blind)" : "");
    $("who").textContent = "signed in as " + S.reviewer;
    buildGuidelines();
    buildRubric();
    if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
    await loadHistory();
    await next(false);
    refreshProgress();
  }

  // ------------------------------------------------------------------ guidelines
  function guideOf(name) { return (S.queue.rubric.guide || {})[name] || null; }

  function guideNodes(title, g, scale) {
    const box = el("div", "guide-entry");
    box.appendChild(el("h4", null, title));
    if (g && g.description) { const d = el("div", "md"); md(d, g.description); box.appendChild(d); }
    const meanings = meaningList(g, scale);
    if (meanings) box.appendChild(meanings);
    return box;
  }

  function meaningList(g, scale) {
    if (!g || !g.scores || !Object.keys(g.scores).length) return null;
    const ul = el("ul", "meanings");
    for (let v = scale.min; v <= scale.max; v++) {
      if (g.scores[String(v)]) ul.appendChild(el("li", null, v + " = " + g.scores[String(v)]));
    }
    return ul;
  }

  function buildGuidelines() {
    const text = S.queue.guidelines || "";
    $("guidelines").hidden = !text;
    md($("guidelines-body"), text);
    if (text && !sessionStorage.getItem("rlhf-review-guidelines-seen:" + S.queue.name)) {
      $("guidelines").open = true;
      sessionStorage.setItem("rlhf-review-guidelines-seen:" + S.queue.name, "1");
    }
    const help = $("help-guidelines"); help.textContent = "";
    if (text) { help.appendChild(el("h3", null, "Guidelines")); const d = el("div", "md"); md(d, text); help.appendChild(d); }
    const rub = $("help-rubric"); rub.textContent = "";
    const scale = S.queue.rubric.scale;
    const entries = [];
    types().forEach((t) => { if (t !== "multi_dimensional" && guideOf(t)) entries.push([labelOf(t), guideOf(t)]); });
    Object.keys(S.queue.rubric.dimensions || {}).forEach((d) => { if (guideOf(d)) entries.push([d, guideOf(d)]); });
    if (entries.length) {
      rub.appendChild(el("h3", null, "Rubric"));
      entries.forEach(([title, g]) => rub.appendChild(guideNodes(title, g, scale)));
    }
  }
  function labelOf(t) { return { binary: "Thumbs", rating: "Rating", comparative: "Which is better", text: "Comment" }[t] || t; }

  // ------------------------------------------------------------------ rubric
  function types() { return S.queue.rubric.types; }
  function scoreFields() {
    const f = [];
    if (types().includes("rating")) f.push("rating");
    if (types().includes("multi_dimensional")) Object.keys(S.queue.rubric.dimensions).forEach((d) => f.push("dim:" + d));
    return f;
  }
  function fieldName(field) { return field === "rating" ? "Rating" : field.slice(4); }

  function setGuide(id, g) {
    const node = $(id);
    node.hidden = !(g && g.description);
    if (g && g.description) md(node, g.description);
  }

  function buildRubric() {
    const t = types(), scale = S.queue.rubric.scale;
    $("f-vote").hidden = !t.includes("comparative");
    $("f-binary").hidden = !t.includes("binary");
    $("f-text").hidden = !t.includes("text");
    setGuide("guide-comparative", guideOf("comparative"));
    setGuide("guide-binary", guideOf("binary"));
    setGuide("guide-text", guideOf("text"));
    $("correction-box").hidden = true;
    $("comment-label").textContent = S.queue.pairwise ? "Reason (C)" : "Comment (C)";
    const skip = $("skip-reason"); skip.textContent = "";
    REASONS.forEach((r) => { const o = el("option", null, r); o.value = r; skip.appendChild(o); });
    const box = $("f-scores"); box.textContent = "";
    scoreFields().forEach((field, i) => {
      const name = fieldName(field);
      const g = guideOf(field === "rating" ? "rating" : name);
      const set = el("fieldset", "score"); set.dataset.field = field;
      set.appendChild(el("legend", null, name + " (" + scale.min + "-" + scale.max + ")"));
      if (g && g.description) { const d = el("div", "guide md"); md(d, g.description); set.appendChild(d); }
      const row = el("div", "choices");
      row.setAttribute("role", "radiogroup");
      row.setAttribute("aria-label", name);
      for (let v = scale.min; v <= scale.max; v++) {
        const meaning = g && g.scores ? g.scores[String(v)] : null;
        const b = el("button", null, String(v));
        b.type = "button"; b.dataset.value = String(v);
        b.setAttribute("role", "radio"); b.setAttribute("aria-checked", "false");
        b.setAttribute("aria-label", name + " " + v + (meaning ? ": " + meaning : ""));
        if (meaning) b.title = meaning;
        b.addEventListener("click", () => { S.active = i; clear(); setScore(field, v); });
        row.appendChild(b);
      }
      set.appendChild(row);
      const meanings = meaningList(g, scale);
      if (meanings) set.appendChild(meanings);
      box.appendChild(set);
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
  // Exactly one of: item + rubric (reviewing), next-box (after a pairwise reveal),
  // empty (nothing left), conflict (open in another tab).
  function layout(state) {
    $("item").hidden = !(state === "item" || state === "revealed");
    $("rubric").hidden = state !== "item";
    $("next-box").hidden = state !== "revealed";
    $("empty").hidden = state !== "empty";
    $("conflict").hidden = state !== "conflict";
    $("skip-box").hidden = true;
    $("skip").hidden = S.mode !== "head";
    $("review").dataset.state = state;
  }

  function show(item, answers, mode) {
    S.item = item; S.answers = Object.assign({}, answers || {}); S.sub = randomId();
    S.mode = mode; S.active = 0; S.revealed = false; S.conflict = null;
    $("item").dataset.key = item ? item.key : "";
    layout(item ? "item" : "empty");
    if (!item) { $("mode").textContent = ""; return; }
    $("mode").textContent = (mode === "history" ? "Your review (change it and press Enter) · " : "") + "item " + item.position;
    const ctx = item.context || [];
    $("thread").hidden = !ctx.length;
    const list = $("thread-list"); list.textContent = "";
    ctx.forEach((m) => {
      const li = el("li", "role-" + String(m.role || "other").replace(/[^a-z]/g, ""));
      li.appendChild(el("p", "role", String(m.role || "?")));
      const body = el("div", "md"); md(body, typeof m.content === "string" ? m.content : JSON.stringify(m.content));
      li.appendChild(body);
      list.appendChild(li);
    });
    md($("prompt"), item.prompt);
    $("single").hidden = item.kind !== "single"; $("pair").hidden = item.kind !== "pair";
    if (item.kind === "single") {
      md($("response"), item.response);
      $("model").textContent = item.model ? "(" + item.model + ")" : "";
    } else {
      md($("answer-a"), item.sides[0].response);
      md($("answer-b"), item.sides[1].response);
      revealModels(item.sides[0].model, item.sides[1].model);
    }
    const others = item.feedback;
    $("others").hidden = !others || !others.length;
    const ol = $("others-list"); ol.textContent = "";
    (others || []).forEach((f) => {
      ol.appendChild(el("li", null, (f.source || "?") + " · " + (f.user || "anonymous") + " · " + f.type + ": " + JSON.stringify(f.data)));
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

  function showFunnel(rows) {
    const ul = $("funnel"); ul.textContent = "";
    (rows || []).forEach((r) => {
      ul.appendChild(el("li", null, r.removed ? r.condition + " removed " + r.removed + " (" + r.why + "), " + r.left + " left" : r.left + " " + r.condition));
    });
  }

  async function next(takeover) {
    const { status, data } = await api("POST", "/api/next", { client, takeover: !!takeover });
    if (status === 409) {
      S.item = null; S.conflict = data.error;
      $("item").dataset.key = "";
      $("conflict-detail").textContent = data.detail;
      layout("conflict");
      $("mode").textContent = "";
      return;
    }
    if (status !== 200) { alarm(data.detail); return; }
    S.index = S.history.length;
    S.lease = data.lease ? data.lease.id : null;
    show(data.item, null, data.item ? "head" : "done");
    $("empty").dataset.waiting = data.item ? "" : String(data.waiting || 0);
    showFunnel(data.funnel);
    if (data.funnel) $("empty-detail").textContent = "This queue selected no items. What each condition removed:";
    else if (!data.item && data.waiting) $("empty-detail").textContent = data.waiting + " item(s) are open with other reviewers and may come back. Press J to check again, K to go back to your reviews.";
    else if (!data.item) $("empty-detail").textContent = "Press K to go back to your reviews, or Z to undo your last one.";
  }

  async function loadHistory() {
    const { data } = await api("GET", "/api/mine");
    S.history = data.items || []; S.index = S.history.length;
  }

  async function openHistory(i) {
    const key = S.history[i];
    const { status, data } = await api("GET", "/api/item?key=" + encodeURIComponent(key));
    if (status !== 200) { alarm(data.detail); return; }
    S.index = i;
    show(data.item, data.answers, "history");
    say("Your review " + (i + 1) + " of " + S.history.length + ".");
  }

  async function back() {
    clear();
    if (!S.history.length) { say("No earlier reviews yet."); return; }
    await openHistory(Math.max(0, (S.mode === "history" ? S.index : S.history.length) - 1));
  }

  async function forward() {
    clear();
    if (S.mode === "history" && S.index + 1 < S.history.length) { await openHistory(S.index + 1); return; }
    await next(false);
  }

  // ------------------------------------------------------------------ skip / undo / find
  function openSkip() {
    if (!S.item || S.mode !== "head" || S.revealed) { say("Only the item in front of you can be skipped."); return; }
    clear();
    $("skip-box").hidden = false;
    $("skip-reason").focus();
  }

  async function confirmSkip() {
    const choice = $("skip-reason").value;
    const other = $("skip-other").value.trim();
    const reason = choice === "other" ? (other || "other") : choice + (other ? ": " + other : "");
    const position = S.item.position;
    const { status, data } = await api("POST", "/api/skip", { lease: S.lease, reason });
    $("skip-box").hidden = true; $("skip-other").value = "";
    if (status !== 200) { alarm(data.detail); return; }
    await next(false);
    refreshProgress();
    say("Skipped item " + position + " (" + reason + "). Press Z to undo.");
  }

  async function undo() {
    clear();
    const { status, data } = await api("POST", "/api/undo", { client });
    if (status !== 200) { alarm(data.detail); return; }
    if (!data.undone) { say("Nothing to undo in this session."); return; }
    if (data.undone === "skip") {
      S.lease = data.lease.id;
      show(data.item, null, "head");
      say("Skip undone: item " + data.item.position + " is yours again.");
    } else {
      const i = S.history.indexOf(data.item.key);
      S.index = i >= 0 ? i : S.history.length;
      show(data.item, data.answers, "history");
      say("Undo: change your review of item " + data.item.position + " and press Enter; your earlier answer will no longer count.");
    }
    refreshProgress();
  }

  async function find(ev) {
    if (ev) ev.preventDefault();
    const q = $("search").value.trim(), state = $("filter").value;
    const { status, data } = await api("GET", "/api/find?q=" + encodeURIComponent(q) + "&state=" + encodeURIComponent(state));
    if (status !== 200) { alarm(data.detail); return; }
    const ul = $("results-list"); ul.textContent = "";
    data.items.forEach((it) => {
      const li = el("li");
      const b = el("button", null, "item " + it.position + " · " + it.state + " · " + it.prompt);
      b.type = "button";
      b.addEventListener("click", () => openFound(it.key));
      li.appendChild(b); ul.appendChild(li);
    });
    $("results-count").textContent = data.matches + " item(s) match" + (data.matches > data.items.length ? " (first " + data.items.length + " shown)" : "") + ".";
    $("results").hidden = false;
    const first = ul.querySelector("button");
    (first || $("results-close")).focus();
  }

  async function openFound(key) {
    clear();
    const { status, data } = await api("POST", "/api/open", { client, key });
    if (status !== 200) { alarm(data.detail); return; }
    $("results").hidden = true;
    if (data.lease) { S.lease = data.lease.id; show(data.item, null, "head"); }
    else { S.index = S.history.indexOf(key); show(data.item, data.answers, "history"); }
    document.activeElement && document.activeElement.blur();
  }

  // ------------------------------------------------------------------ submit
  function missingFields() {
    const t = types(), a = S.answers, out = [];
    if (t.includes("comparative") && !a.vote) out.push("which answer is better (A, B, T or X)");
    if (t.includes("binary") && !a.binary) out.push("thumbs (U or D)");
    scoreFields().forEach((f) => { if (scoreOf(f) === undefined) out.push(fieldName(f).toLowerCase() + " (a score)"); });
    return out;
  }

  function describe(answers) {
    const parts = [];
    if (answers.vote) parts.push({ A: "A better", B: "B better", tie: "tie", both_bad: "both bad" }[answers.vote]);
    if (answers.binary) parts.push(answers.binary === "thumbs_up" ? "thumbs up" : "thumbs down");
    if (answers.rating !== undefined) parts.push("rating " + answers.rating);
    Object.entries(answers.dimensions || {}).forEach(([k, v]) => parts.push(k + " " + v));
    if (answers.comment) parts.push("a comment");
    if (answers.correction) parts.push("a correction");
    return parts.join(", ");
  }

  async function submit() {
    if (S.revealed) { clear(); await next(false); return; }
    if (!S.item || S.busy) return;
    const missing = missingFields();
    if (missing.length) { say(""); alarm("Missing: " + missing.join("; ") + "."); return; }
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
    clear();
    const position = S.item.position;
    const wasHistory = S.mode === "history";
    if (!wasHistory && !S.history.includes(S.item.key)) S.history.push(S.item.key);
    if (data.reveal || wasHistory) refreshProgress();
    if (data.reveal) {
      S.revealed = true; revealModels(data.reveal.A, data.reveal.B);
      layout("revealed");
      say("Saved item " + position + " (" + describe(answers) + "). A was " + data.reveal.A + ", B was " + data.reveal.B + ". Press Enter or J for the next item.");
      return;
    }
    if (wasHistory) { say("Changed item " + position + " (" + describe(answers) + "); the earlier answer no longer counts."); return; }
    await next(false);
    refreshProgress();
    say("Saved item " + position + " (" + describe(answers) + ").");
  }

  // ------------------------------------------------------------------ progress
  const fmt = (x, d) => (x === null || x === undefined ? "–" : Number(x).toFixed(d === undefined ? 3 : d));
  async function refreshProgress() {
    if (!S.session) return;
    const { status, data } = await api("GET", "/api/progress");
    if (status !== 200) return;
    const me = data.me || {};
    const others = (me.closed || 0) + (me.held || 0) + (me.passed || 0);
    $("mine").textContent = me.done + " done · " + me.skipped + " skipped · " + (me.open || 0) + " open · " +
      me.todo + " to do · " + others + " with others · " + me.items + " items";
    $("progress").textContent = data.complete + " of " + data.items + " items complete · " +
      data.reviews + " of " + data.reviews_needed + " reviews · " + data.leased + " open now";
    const rows = (id, list, cells) => {
      const body = document.querySelector("#" + id + " tbody"); body.textContent = "";
      list.forEach((r) => {
        const tr = document.createElement("tr");
        cells(r).forEach((c) => { tr.appendChild(el("td", null, String(c))); });
        body.appendChild(tr);
      });
    };
    rows("agreement", data.agreement, (a) => [a.kind, a.items, a.raters, fmt(a.krippendorff_alpha), fmt(a.fleiss_kappa), fmt(a.cohen_kappa)]);
    const ci = (x, c) => fmt(x) + (c ? " (" + fmt(c[0], 2) + " to " + fmt(c[1], 2) + ")" : "");
    const pct = (x) => (x === null || x === undefined ? "–" : (100 * x).toFixed(1) + "%");
    rows("judges", data.judges || [], (a) => [a.judge, a.kind, a.items, pct(a.percent_agreement),
      ci(a.cohen_kappa, a.cohen_kappa_ci), ci(a.krippendorff_alpha, a.krippendorff_alpha_ci),
      fmt(a.mean_difference), pct(a.position_bias_rate), fmt(a.human ? a.human.krippendorff_alpha : null)]);
    rows("reviewers", Object.entries(data.reviewers), ([n, r]) => [n, r.reviews, fmt(r.items_per_hour, 1), fmt(r.median_seconds_per_item, 1)]);
  }

  // ------------------------------------------------------------------ keys
  function toggleHelp(open) {
    const h = $("help");
    const show = open === undefined ? h.hidden : open;
    if (show === !h.hidden) return;
    if (show) { S.lastFocus = document.activeElement; h.hidden = false; h.focus(); }
    else { h.hidden = true; if (S.lastFocus && S.lastFocus.focus && S.lastFocus !== document.body) S.lastFocus.focus(); }
  }

  function openText(id) {
    if ($("f-text").hidden) { say("This queue has no comments or corrections."); return; }
    if (id === "correction") $("correction-box").hidden = false;
    $(id).focus();
  }

  async function onKey(ev) {
    if (!$("help").hidden) {
      if (ev.key === "Escape" || ev.key === "?") { ev.preventDefault(); toggleHelp(false); }
      else if (ev.key === "Tab") { ev.preventDefault(); $("help-close").focus(); }
      return;
    }
    if ($("signin").hidden === false) return;
    const t = ev.target;
    const inText = t && (t.tagName === "TEXTAREA" || t.tagName === "INPUT" || t.tagName === "SELECT");
    if (ev.key === "Escape") {
      if (!$("skip-box").hidden) { $("skip-box").hidden = true; }
      if (!$("results").hidden) { $("results").hidden = true; }
      if (inText || t.tagName === "BUTTON") t.blur();
      return;
    }
    if (inText) {
      if (ev.key === "Enter" && t.id === "search") return; // the find form submits
      if (ev.key === "Enter" && (t.id === "skip-reason" || t.id === "skip-other")) { ev.preventDefault(); await confirmSkip(); return; }
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); t.blur(); await submit(); }
      return;
    }
    // a focused button answers Enter/Space itself (click)
    if (t && t.tagName === "BUTTON" && (ev.key === "Enter" || ev.key === " ")) return;
    if (t && t.tagName === "SUMMARY" && (ev.key === "Enter" || ev.key === " ")) return;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const k = ev.key;
    if (k === "?") { toggleHelp(true); ev.preventDefault(); return; }
    const lower = k.length === 1 ? k.toLowerCase() : k;
    const pair = S.queue && S.queue.pairwise;
    let handled = true;
    if (lower === "o" && S.conflict === "open_in_other_tab") { await next(true); }
    else if (lower === "j") { await forward(); }
    else if (lower === "k") { await back(); }
    else if (lower === "z") { await undo(); }
    else if (k === "/") { $("search").focus(); }
    else if (k === "Enter") { await submit(); }
    else if (!S.item || S.revealed) { handled = false; }
    else if (lower === "s") { openSkip(); }
    else if (pair && ["a", "b", "t", "x"].includes(lower)) {
      clear(); S.answers.vote = { a: "A", b: "B", t: "tie", x: "both_bad" }[lower]; paint();
    } else if (!pair && lower === "u" && types().includes("binary")) { clear(); S.answers.binary = "thumbs_up"; paint(); }
    else if (!pair && lower === "d" && types().includes("binary")) { clear(); S.answers.binary = "thumbs_down"; paint(); }
    else if (/^[0-9]$/.test(k) && scoreFields().length) {
      const v = Number(k), sc = S.queue.rubric.scale;
      clear();
      if (v >= sc.min && v <= sc.max) setScore(scoreFields()[S.active], v); else say("Scores go from " + sc.min + " to " + sc.max + ".");
    } else if (k === "ArrowDown" && scoreFields().length) { S.active = Math.min(S.active + 1, scoreFields().length - 1); paint(); }
    else if (k === "ArrowUp" && scoreFields().length) { S.active = Math.max(S.active - 1, 0); paint(); }
    else if (lower === "e") { clear(); openText(pair ? "comment" : "correction"); }
    else if (lower === "c") { clear(); openText("comment"); }
    else { handled = false; }
    if (handled) ev.preventDefault();
  }

  // ------------------------------------------------------------------ wiring
  document.addEventListener("DOMContentLoaded", async () => {
    const fail = (e) => alarm(String((e && e.message) || e));
    $("signin-form").addEventListener("submit", (ev) => { signIn(ev).catch(fail); });
    $("rubric").addEventListener("submit", (ev) => { ev.preventDefault(); submit().catch(fail); });
    $("find").addEventListener("submit", (ev) => { find(ev).catch(fail); });
    $("results-close").addEventListener("click", () => { $("results").hidden = true; });
    $("help-button").addEventListener("click", () => toggleHelp(true));
    $("help-close").addEventListener("click", () => toggleHelp(false));
    $("skip").addEventListener("click", openSkip);
    $("skip-confirm").addEventListener("click", () => { confirmSkip().catch(fail); });
    $("skip-cancel").addEventListener("click", () => { $("skip-box").hidden = true; });
    $("undo").addEventListener("click", () => { undo().catch(fail); });
    $("undo-after").addEventListener("click", () => { undo().catch(fail); });
    $("next").addEventListener("click", () => { submit().catch(fail); });
    $("takeover").addEventListener("click", () => { next(true).catch(fail); });
    document.querySelectorAll("[data-vote]").forEach((b) => b.addEventListener("click", () => { clear(); S.answers.vote = b.dataset.vote; paint(); }));
    document.querySelectorAll("[data-binary]").forEach((b) => b.addEventListener("click", () => { clear(); S.answers.binary = b.dataset.binary; paint(); }));
    document.addEventListener("keydown", (ev) => { onKey(ev).catch(fail); });
    setInterval(refreshProgress, 10000);
    try { S.auth = (await (await fetch("/api/config")).json()).auth || "open"; } catch (e) { S.auth = "open"; }
    const saved = JSON.parse(localStorage.getItem("rlhf-review-session") || "null");
    if (S.auth === "proxy") {
      signIn(null).catch(() => showSignIn("The proxy in front of this app did not name you."));
    } else if (saved && saved.session) {
      S.session = saved.session; S.reviewer = saved.reviewer;
      start().catch(() => showSignIn());
    } else {
      showSignIn();
    }
  });
})();

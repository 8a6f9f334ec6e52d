// rlhf-otel review: safe Markdown and code rendering. Builds DOM nodes from text; never
// parses HTML (no innerHTML), so an answer holding <script> or onerror= stays plain text.
// Supports: paragraphs, line breaks, # headings, - / 1. lists, > quotes, --- rules,
// ``` fenced code (highlighted), `code`, **bold**, *italic*, [links](https://...).
"use strict";
(function () {
  const KEYWORDS = new Set((
    "and as assert async await break case catch class const continue def default del do elif else " +
    "enum except export extends false False finally fn for from func function if import impl in " +
    "interface is let match mut new nil None not null or pass pub raise return self static struct " +
    "super switch this throw true True try type typeof use var void while with yield"
  ).split(" "));
  // one alternation, tried left to right at each position
  const TOKEN = /(\/\/[^\n]*|#[^\n]*|\/\*[\s\S]*?\*\/|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`|\b\d+(?:\.\d+)?\b|\b[A-Za-z_][A-Za-z0-9_]*\b)/g;

  function el(tag, cls, text) {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined) n.textContent = text;
    return n;
  }

  // Highlighted code: spans with classes tok-c (comment), tok-s (string), tok-n (number),
  // tok-k (keyword); everything as text nodes.
  function highlight(code, lang) {
    const out = el("code");
    if (lang) out.dataset.lang = lang;
    const hashComments = !lang || /^(py|python|sh|bash|shell|yaml|yml|ruby|rb|toml|r)$/i.test(lang);
    const re = new RegExp(TOKEN.source, "g");
    let last = 0, m;
    while ((m = re.exec(code)) !== null) {
      const at = m.index, tok = m[0], c = tok[0];
      if (at > last) out.appendChild(document.createTextNode(code.slice(last, at)));
      if (c === "#" && !hashComments) {
        out.appendChild(document.createTextNode("#"));
        last = re.lastIndex = at + 1;
        continue;
      }
      let cls = null;
      if (c === "/" || c === "#") cls = "tok-c";
      else if (c === '"' || c === "'" || c === "`") cls = "tok-s";
      else if (c >= "0" && c <= "9") cls = "tok-n";
      else if (KEYWORDS.has(tok)) cls = "tok-k";
      out.appendChild(cls ? el("span", cls, tok) : document.createTextNode(tok));
      last = re.lastIndex;
    }
    if (last < code.length) out.appendChild(document.createTextNode(code.slice(last)));
    return out;
  }

  function safeUrl(href) {
    try {
      const u = new URL(href, "https://invalid.example/");
      if (u.origin === "https://invalid.example") return null;
      return u.protocol === "https:" || u.protocol === "http:" || u.protocol === "mailto:" ? u.href : null;
    } catch (e) { return null; }
  }

  const INLINE = /(`+)([\s\S]*?[^`])\1(?!`)|\*\*([\s\S]+?)\*\*|(?<![\w])__(?=\S)([\s\S]*?\S)__(?![\w])|\*([^*\s][\s\S]*?)\*|(?<![\w])_(?=\S)([\s\S]*?\S)_(?![\w])|\[([^\]\n]+)\]\(([^)\s]+)\)/;

  function inline(parent, text) {
    while (text) {
      const m = INLINE.exec(text);
      if (!m) { lines(parent, text); return; }
      if (m.index) lines(parent, text.slice(0, m.index));
      if (m[1]) parent.appendChild(el("code", null, m[2].trim() ? m[2].replace(/^ | $/g, "") : m[2]));
      else if (m[3] !== undefined || m[4] !== undefined) inline(parent.appendChild(el("strong")), m[3] !== undefined ? m[3] : m[4]);
      else if (m[5] !== undefined || m[6] !== undefined) inline(parent.appendChild(el("em")), m[5] !== undefined ? m[5] : m[6]);
      else {
        const href = safeUrl(m[8]);
        if (href) {
          const a = el("a"); a.href = href; a.rel = "noopener noreferrer nofollow"; a.target = "_blank";
          inline(a, m[7]); parent.appendChild(a);
        } else {
          lines(parent, m[0]);
        }
      }
      text = text.slice(m.index + m[0].length);
    }
  }

  function lines(parent, text) {
    text.split("\n").forEach((part, i) => {
      if (i) parent.appendChild(el("br"));
      if (part) parent.appendChild(document.createTextNode(part));
    });
  }

  function markdown(text) {
    const root = document.createDocumentFragment();
    const src = String(text || "").replace(/\r\n?/g, "\n").split("\n");
    let i = 0;
    while (i < src.length) {
      const line = src[i];
      const fence = /^\s*(```+|~~~+)\s*([\w+#.-]*)\s*$/.exec(line);
      if (fence) {
        const body = [];
        i++;
        while (i < src.length && !src[i].trim().startsWith(fence[1])) body.push(src[i++]);
        i++;
        const pre = el("pre", "code");
        pre.appendChild(highlight(body.join("\n"), fence[2]));
        pre.tabIndex = 0;
        pre.setAttribute("aria-label", (fence[2] || "code") + " block");
        root.appendChild(pre);
        continue;
      }
      if (!line.trim()) { i++; continue; }
      const h = /^(#{1,6})\s+(.*)$/.exec(line);
      if (h) {
        // headings inside an answer sit below the page's own (h4..h6)
        const level = Math.min(6, 3 + h[1].length);
        inline(root.appendChild(el("h" + level, "md-h")), h[2]);
        i++; continue;
      }
      if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) { root.appendChild(el("hr")); i++; continue; }
      if (/^\s*>/.test(line)) {
        const body = [];
        while (i < src.length && /^\s*>/.test(src[i])) body.push(src[i++].replace(/^\s*>\s?/, ""));
        const q = el("blockquote");
        q.appendChild(markdown(body.join("\n")));
        root.appendChild(q);
        continue;
      }
      const item = /^\s*([-*+]|\d+[.)])\s+/;
      if (item.test(line)) {
        const ordered = /^\s*\d/.test(line);
        const list = el(ordered ? "ol" : "ul");
        while (i < src.length && item.test(src[i])) {
          let body = src[i++].replace(item, "");
          while (i < src.length && /^\s{2,}\S/.test(src[i]) && !item.test(src[i])) body += "\n" + src[i++].trim();
          inline(list.appendChild(el("li")), body);
        }
        root.appendChild(list);
        continue;
      }
      const para = [];
      while (i < src.length && src[i].trim() && !/^\s*(```|~~~|#{1,6}\s|>|([-*+]|\d+[.)])\s)/.test(src[i])) para.push(src[i++]);
      if (!para.length) para.push(src[i++]);
      inline(root.appendChild(el("p")), para.join("\n"));
    }
    return root;
  }

  window.RlhfRender = { markdown, highlight };
})();

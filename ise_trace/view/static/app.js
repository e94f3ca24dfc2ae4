// ise-trace view: the list of trajectories and one trajectory, in vanilla JavaScript.
//
// Every piece of data goes into the page as text (textContent, never innerHTML): tool outputs
// hold HTML and must show as what the agent saw. Two data sources, one page:
// - served by `ise-trace view`: api/list (filtered, paged on the server) and api/trajectory;
// - exported with --export: data/index.js holds the list rows, data/t/<pos>.js one trajectory
//   each; filtering and paging then happen here, with the rules of ise_trace/view/source.py.
"use strict";
(function () {
  const STATIC = window.ISE_STATIC_INDEX || null;
  const PAGE_SIZE = 50;
  const FOLD_CHARS = 600;
  const FOLD_LINES = 12;
  const app = document.getElementById("app");
  const fmt = (n) => Number(n).toLocaleString("en-US");

  // ------------------------------------------------------------------ DOM helpers (text only)
  function el(tag, attrs, ...kids) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    add(node, kids);
    return node;
  }
  function add(node, kids) {
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      node.appendChild(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return node;
  }
  function badge(text, kind, title) {
    return el("span", { class: "badge " + (kind || ""), title: title }, text);
  }
  function pre(text, cls) {
    return el("pre", { class: cls || "" }, text === null || text === undefined ? "" : String(text));
  }
  // Long text folds under <details>; its summary says how long it is and shows its first line.
  function folded(label, text, cls) {
    text = text === null || text === undefined ? "" : String(text);
    const lines = text.split("\n");
    if (text.length <= FOLD_CHARS && lines.length <= FOLD_LINES) {
      return el("div", { class: "out " + (cls || "") }, el("div", { class: "label" }, label), pre(text));
    }
    const first = lines[0].slice(0, 120);
    return el("details", { class: "out " + (cls || "") },
      el("summary", {}, label + " (" + fmt(text.length) + " chars, " + fmt(lines.length) + " lines): ",
        el("span", { class: "muted" }, first)),
      pre(text));
  }
  function verificationBadge(v, falseSuccess) {
    const b = v === "passed" ? badge("checks passed", "ok") : v === "failed" ? badge("checks failed", "bad")
      : badge("unverified", "muted", "the intent has no checks");
    return [b, falseSuccess ? badge("false success", "bad", "the simulated user said success; the checks failed") : null];
  }
  function outcomeBadge(status) {
    return badge(status || "?", status === "success" ? "ok" : status === "error" ? "bad" : "warn");
  }
  function showError(message) {
    app.replaceChildren(el("p", { class: "error" }, message));
  }

  // ------------------------------------------------------------------ data
  async function getJSON(url) {
    const r = await fetch(url, { cache: "no-store" });
    const data = await r.json().catch(() => ({ error: "the server answered " + r.status }));
    if (!r.ok) throw new Error(data.error || "the server answered " + r.status);
    return data;
  }

  function matches(s, q, words) {
    if (q.outcome && s.outcome !== q.outcome) return false;
    if (q.verification) {
      if (q.verification === "false_success") { if (!s.false_success) return false; }
      else if (s.verification !== q.verification) return false;
    }
    if (q.domain && !s.domains.includes(q.domain)) return false;
    if (q.complexity && s.complexity !== q.complexity) return false;
    if (q.model && s.model !== q.model) return false;
    if (q.failed && !s.failed_calls) return false;
    if (words.length) {
      const hay = [s.id, s.text, s.persona, s.role, s.model, ...s.domains].join(" ").toLowerCase();
      return words.every((w) => hay.includes(w));
    }
    return true;
  }
  function count(rows, key) {
    const c = {};
    for (const r of rows) c[r[key]] = (c[r[key]] || 0) + 1;
    return Object.fromEntries(Object.entries(c).sort((a, b) => b[1] - a[1]));
  }
  function facets(rows) {
    const domains = {};
    for (const r of rows) for (const d of r.domains) domains[d] = (domains[d] || 0) + 1;
    const v = count(rows, "verification");
    return {
      outcome: count(rows, "outcome"),
      verification: { passed: v.passed || 0, failed: v.failed || 0, unverified: v.unverified || 0,
        false_success: rows.filter((r) => r.false_success).length },
      domain: Object.fromEntries(Object.entries(domains).sort()),
      complexity: count(rows, "complexity"),
      model: count(rows, "model"),
      failed: rows.filter((r) => r.failed_calls).length,
    };
  }
  const SORTS = { failed: "failed_calls", tool_calls: "tool_calls", user_turns: "user_turns" };
  function staticList(q) {
    const all = STATIC.rows;
    const words = (q.q || "").toLowerCase().split(/\s+/).filter(Boolean);
    const query = Object.assign({}, q, { failed: ["1", "true", "yes", "on"].includes(q.failed) });
    let matched = all.filter((s) => matches(s, query, words));
    const key = SORTS[q.sort];
    if (key) matched = matched.map((s, i) => [s, i]).sort((a, b) => (b[0][key] - a[0][key]) || (a[1] - b[1])).map((p) => p[0]);
    const offset = Math.max(0, parseInt(q.offset || "0", 10) || 0);
    const limit = Math.min(500, parseInt(q.limit || PAGE_SIZE, 10) || PAGE_SIZE);
    return { total: all.length, matched: matched.length, offset, limit, rows: matched.slice(offset, offset + limit),
      counts: facets(matched), facets: facets(all), source: STATIC.source };
  }
  const staticTrajectories = {};
  window.ISE_STATIC_TRAJECTORY = (pos, data) => { staticTrajectories[pos] = data; };
  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = src;
      s.onload = resolve;
      s.onerror = () => reject(new Error("cannot load " + src));
      document.head.appendChild(s);
    });
  }
  async function listPage(params) {
    return STATIC ? staticList(params) : getJSON("api/list?" + new URLSearchParams(params));
  }
  async function trajectory(id) {
    if (!STATIC) return getJSON("api/trajectory?id=" + encodeURIComponent(id));
    const row = STATIC.rows.find((r) => r.id === id);
    if (!row) throw new Error("no trajectory with id " + JSON.stringify(id) + " here");
    if (!staticTrajectories[row.pos]) await loadScript("data/t/" + row.pos + ".js");
    return staticTrajectories[row.pos];
  }

  // ------------------------------------------------------------------ routing
  // #/?outcome=...&offset=50   the list;   #/t/<id>   one trajectory
  let lastList = "#/";
  function route() {
    const h = location.hash || "#/";
    if (h.startsWith("#/t/")) return showTrajectory(decodeURIComponent(h.slice(4)));
    lastList = h;
    const params = Object.fromEntries(new URLSearchParams(h.slice(h.indexOf("?") + 1 || h.length)));
    return showList(params);
  }
  function go(params) {
    const clean = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== "" && v !== undefined && v !== null));
    const qs = new URLSearchParams(clean).toString();
    location.hash = "#/" + (qs ? "?" + qs : "");
  }
  function setSource(src) {
    const s = document.getElementById("source");
    const what = src.kind === "run" ? "run folder" : "dataset folder";
    s.replaceChildren();
    add(s, [what + " ", el("b", {}, src.name), " · " + fmt(src.trajectories) + " trajectories",
      src.kind === "run" && !STATIC ? el("span", { class: "muted" }, " · reload to see trajectories written since") : null,
      STATIC ? el("span", { class: "muted" }, " · static export") : null]);
  }

  // ------------------------------------------------------------------ the list
  let listUI = null; // the mounted filter bar, kept while only the filters change (keeps focus)
  const VERIFICATION = [["passed", "passed"], ["failed", "failed"], ["unverified", "unverified (no checks)"],
    ["false_success", "false success (said success, checks failed)"]];

  function select(name, label, options, value, onchange) {
    const s = el("select", { id: "f-" + name, name, onchange },
      el("option", { value: "" }, label + ": all"),
      options.map(([v, text]) => el("option", { value: v, selected: v === value }, text)));
    return s;
  }
  function withCounts(obj) {
    return Object.entries(obj || {}).map(([k, n]) => [k, k + " (" + fmt(n) + ")"]);
  }

  function mountList(data, params) {
    const f = data.facets;
    const change = () => {
      const p = { q: ui.search.value.trim() };
      for (const name of ["outcome", "verification", "domain", "complexity", "model", "sort"]) p[name] = ui[name].value;
      p.failed = ui.failed.checked ? "1" : "";
      if (p.sort === "order") p.sort = "";
      go(p);
    };
    const ui = {};
    ui.outcome = select("outcome", "outcome", withCounts(f.outcome), params.outcome, change);
    ui.verification = select("verification", "verification",
      VERIFICATION.map(([v, t]) => [v, t + " (" + fmt(f.verification[v] || 0) + ")"]), params.verification, change);
    ui.domain = select("domain", "domain", withCounts(f.domain), params.domain, change);
    ui.complexity = select("complexity", "complexity", withCounts(f.complexity), params.complexity, change);
    ui.model = select("model", "model", withCounts(f.model), params.model, change);
    ui.sort = el("select", { id: "f-sort", onchange: change },
      [["order", "order: as stored"], ["failed", "most failed calls"], ["tool_calls", "most tool calls"],
        ["user_turns", "most user turns"]].map(([v, t]) => el("option", { value: v, selected: v === (params.sort || "order") }, t)));
    ui.failed = el("input", { type: "checkbox", id: "f-failed", checked: params.failed === "1", onchange: change });
    ui.search = el("input", { type: "search", id: "f-q", placeholder: "search id, intent, persona, model, domain",
      value: params.q || "" });
    ui.search.addEventListener("keydown", (e) => { if (e.key === "Enter") change(); });
    ui.search.addEventListener("search", change);
    ui.counts = el("div", { id: "counts" });
    ui.table = el("div", { id: "rows" });
    ui.pager = el("div", { class: "pager" });
    ui.failedLabel = el("label", { for: "f-failed", id: "failed-label" }, ui.failed, " with failed tool calls");
    app.replaceChildren(
      el("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); change(); } },
        ui.search, ui.outcome, ui.verification, ui.domain, ui.complexity, ui.model, ui.failedLabel, ui.sort),
      ui.counts, ui.table, ui.pager);
    return ui;
  }

  function renderRows(data, params) {
    const ui = listUI;
    ui.failedLabel.lastChild.textContent = " with failed tool calls (" + fmt(data.facets.failed) + ")";
    const c = data.counts;
    const vc = c.verification;
    ui.counts.replaceChildren(
      el("b", { id: "matched" }, fmt(data.matched)), " of " + fmt(data.total) + " trajectories",
      el("span", { class: "sep" }, " · "), "checks passed " + fmt(vc.passed) + ", failed " + fmt(vc.failed) +
        ", unverified " + fmt(vc.unverified),
      el("span", { class: "sep" }, " · "), el("span", { class: vc.false_success ? "bad-text" : "" }, "false successes " + fmt(vc.false_success)),
      el("span", { class: "sep" }, " · "), "with failed calls " + fmt(c.failed),
      el("span", { class: "sep" }, " · "), Object.entries(c.outcome).map(([k, n]) => k + " " + fmt(n)).join(", "));
    const head = el("tr", {}, ["trajectory", "intent", "complexity", "domains", "model", "outcome", "verification",
      "user turns", "tool calls", "failed calls"].map((h) => el("th", {}, h)));
    const body = data.rows.map((r) => el("tr", { class: "row" + (r.false_success ? " false-success" : ""), "data-id": r.id },
      el("td", {}, el("a", { class: "open", href: "#/t/" + encodeURIComponent(r.id) }, r.id)),
      el("td", { class: "intent" }, el("div", { class: "clip", title: r.text }, r.text),
        el("div", { class: "muted small" }, r.persona + (r.role ? ", " + r.role : ""))),
      el("td", {}, r.complexity),
      el("td", { class: "small" }, r.domains.join(", ")),
      el("td", { class: "small" }, r.model),
      el("td", {}, outcomeBadge(r.outcome)),
      el("td", {}, verificationBadge(r.verification, r.false_success)),
      el("td", { class: "num user-turns" }, fmt(r.user_turns)),
      el("td", { class: "num tool-calls" }, fmt(r.tool_calls)),
      el("td", { class: "num failed-calls" + (r.failed_calls ? " bad-text" : "") }, fmt(r.failed_calls),
        r.recovered_calls ? el("span", { class: "muted small" }, " (" + fmt(r.recovered_calls) + " recovered)") : null)));
    ui.table.replaceChildren(data.rows.length
      ? el("table", { class: "list" }, el("thead", {}, head), el("tbody", {}, body))
      : el("p", { class: "muted" }, "No trajectory matches these filters."));
    const pages = Math.max(1, Math.ceil(data.matched / data.limit));
    const page = Math.floor(data.offset / data.limit) + 1;
    const to = (n) => () => go(Object.assign({}, params, { offset: String((n - 1) * data.limit) }));
    ui.pager.replaceChildren(
      el("button", { id: "prev", disabled: page <= 1, onclick: to(page - 1) }, "← previous"),
      el("span", { id: "page" }, " page " + fmt(page) + " of " + fmt(pages) + " "),
      el("button", { id: "next", disabled: page >= pages, onclick: to(page + 1) }, "next →"));
  }

  async function showList(params) {
    if (!params.limit) params.limit = String(PAGE_SIZE);
    let data;
    try {
      data = await listPage(params);
    } catch (e) {
      listUI = null;
      return showError(e.message);
    }
    setSource(data.source);
    if (!listUI || !app.contains(listUI.table)) listUI = mountList(data, params);
    renderRows(data, params);
    document.title = "ise-trace view · " + data.source.name;
  }

  // ------------------------------------------------------------------ one trajectory
  function kv(pairs) {
    return el("dl", { class: "kv" }, pairs.filter(([, v]) => v !== null && v !== undefined && v !== "")
      .map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  }
  function section(title, ...kids) {
    return el("section", {}, el("h2", {}, title), kids);
  }

  // Number the calls, pair each with its execution record and tool message, and find recoveries:
  // a failed call is recovered by the first later successful call of the same tool.
  function calls(t) {
    const exec = Object.fromEntries((t.executions || []).map((e) => [e.tool_call_id, e]));
    const list = [];
    for (const m of t.messages) {
      if (m.role !== "assistant") continue;
      for (const tc of m.tool_calls || []) {
        list.push({ n: list.length + 1, id: tc.id, name: tc.function.name, args: tc.function.arguments, exec: exec[tc.id],
          recoveredBy: null, recoveryOf: [] });
      }
    }
    list.forEach((c, i) => {
      if (!c.exec || !c.exec.is_error) return;
      const later = list.slice(i + 1).find((d) => d.name === c.name && d.exec && !d.exec.is_error);
      if (later) { c.recoveredBy = later.n; later.recoveryOf.push(c.n); }
    });
    return { list, byId: Object.fromEntries(list.map((c) => [c.id, c])) };
  }

  function callLink(n) {
    return el("a", { href: "#", class: "call-link", onclick: (e) => {
      e.preventDefault();
      const target = document.getElementById("call-" + n);
      if (target) { target.scrollIntoView({ block: "center" }); target.classList.add("flash"); setTimeout(() => target.classList.remove("flash"), 1200); }
    } }, "call #" + n);
  }

  function toolResult(m, c) {
    const e = c && c.exec;
    const failed = e && e.is_error;
    const status = !e ? badge("no execution record", "muted")
      : failed ? el("span", { class: "status bad-text" }, "✗ failed · ", el("span", { class: "exit" }, "exit " + (e.exit_code ?? "none")))
        : el("span", { class: "status ok-text" }, "✓ ", el("span", { class: "exit" }, "exit " + (e.exit_code ?? "none")));
    const flags = e ? [e.timed_out ? badge("timed out", "bad") : null, e.truncated ? badge("output truncated", "warn") : null,
      e.recycled ? badge("workspace recycled", "warn") : null] : [];
    const recovery = c ? [
      c.recoveredBy ? el("span", { class: "recovered-by" }, "↻ recovered by ", callLink(c.recoveredBy)) : null,
      failed && !c.recoveredBy ? el("span", { class: "muted" }, "not recovered") : null,
      c.recoveryOf.length ? el("span", { class: "recovery" }, "↻ recovery of failed ", c.recoveryOf.map((n, i) => [i ? ", " : "", callLink(n)])) : null,
    ] : [];
    return el("div", { class: "msg tool" + (failed ? " failed" : "") + (c && c.recoveryOf.length ? " is-recovery" : ""),
      id: c ? "call-" + c.n : null, "data-call": c ? c.n : null },
      el("div", { class: "who" }, el("span", { class: "role" }, "tool"), " ", el("code", {}, m.name), " ",
        c ? el("span", { class: "muted" }, "call #" + c.n) : null, " ", status,
        e ? el("span", { class: "muted duration" }, " · " + fmt(Math.round(e.duration_ms)) + " ms") : null, " ", flags, " ", recovery),
      folded("output", m.content, failed ? "failed-output" : ""));
  }

  function conversation(t, cs) {
    let userTurn = 0;
    return t.messages.map((m) => {
      if (m.role === "system") {
        return el("details", { class: "msg system" }, el("summary", {}, el("span", { class: "role" }, "system"), " prompt"), pre(m.content));
      }
      if (m.role === "user") {
        userTurn += 1;
        return el("div", { class: "msg user" }, el("div", { class: "who" }, el("span", { class: "role" }, "user"), " turn " + userTurn),
          el("div", { class: "text" }, m.content));
      }
      if (m.role === "assistant") {
        return el("div", { class: "msg assistant" },
          el("div", { class: "who" }, el("span", { class: "role" }, "assistant")),
          m.reasoning_content ? folded("reasoning", m.reasoning_content, "reasoning") : null,
          m.content ? el("div", { class: "text" }, m.content) : null,
          (m.tool_calls || []).map((tc) => {
            const c = cs.byId[tc.id];
            const failed = c && c.exec && c.exec.is_error;
            return el("div", { class: "call" + (failed ? " failed" : "") },
              el("span", { class: "muted" }, c ? "call #" + c.n + " " : ""), el("code", { class: "tool-name" }, tc.function.name),
              failed ? el("span", { class: "bad-text" }, " ✗") : null,
              pre(JSON.stringify(tc.function.arguments, null, 2), "args"));
          }));
      }
      if (m.role === "tool") return toolResult(m, cs.byId[m.tool_call_id]);
      return el("div", { class: "msg" }, pre(JSON.stringify(m, null, 2)));
    });
  }

  function intentSection(t) {
    const i = t.intent || {};
    const p = i.persona || {};
    const ws = i.workspace;
    return section("Intent",
      el("p", { class: "intent-text" }, i.text),
      kv([["complexity", i.complexity], ["domains", (i.domains || []).map((d) => d.name + " (" + (d.tasks || []).map((x) => x.name).join(", ") + ")").join("; ")],
        ["intent id", i.id], ["seed", i.seed], ["task", i.task_origin ? "authored by " + i.task_origin : (i.checks ? "" : "none (unverified intent)")],
        ["rendered by", i.renderer ? i.renderer.model + " · prompt " + i.renderer.prompt_version : ""]]),
      el("h3", {}, "Persona"),
      kv([["name", p.name], ["role", p.role], ["industry", p.industry], ["experience", p.experience_level],
        ["communication", p.communication_style], ["work context", p.work_context], ["expertise", (p.expertise || []).join(", ")]]),
      ws ? el("details", { class: "task" }, el("summary", {}, "workspace: " + fmt((ws.files || []).length) + " files, " + fmt((ws.setup || []).length) + " setup commands"),
        (ws.files || []).map((f) => folded(f.path + (f.mode ? " (" + f.mode + ")" : ""), f.content)),
        (ws.setup || []).length ? pre(ws.setup.join("\n"), "setup") : null) : null,
      i.checks ? el("details", { class: "task" }, el("summary", {}, fmt(i.checks.length) + " checks (never shown to agent or user)"),
        i.checks.map((c) => el("div", {}, el("b", {}, c.name), pre(c.command)))) : null);
  }

  function verificationSection(t) {
    const v = t.verification || { passed: null, checks: [], snapshot: [] };
    const state = v.passed === null || v.passed === undefined ? "unverified" : v.passed ? "passed" : "failed";
    const falseSuccess = t.outcome && t.outcome.status === "success" && v.passed === false;
    const snap = v.snapshot || [];
    return section("Verification",
      el("p", { id: "verification" }, verificationBadge(state, falseSuccess),
        state === "unverified" ? el("span", { class: "muted" }, " the intent has no checks") : null),
      v.error ? el("p", { class: "error" }, "checks could not run: " + v.error) : null,
      (v.checks || []).map((c) => el("div", { class: "check " + (c.passed ? "passed" : "failed") },
        el("div", { class: "who" }, c.passed ? el("span", { class: "ok-text" }, "✓ pass") : el("span", { class: "bad-text" }, "✗ fail"),
          " ", el("b", {}, c.name), el("span", { class: "muted" }, " · exit " + (c.exit_code ?? "none"))),
        c.output ? folded("output", c.output) : null)),
      el("details", { class: "snapshot" }, el("summary", {}, "final snapshot of /workspace: " + fmt(snap.length) + " files" + (v.snapshot_truncated ? " (truncated)" : "")),
        snap.length ? el("table", { class: "list" }, el("thead", {}, el("tr", {}, el("th", {}, "path"), el("th", {}, "size"), el("th", {}, "sha256"))),
          el("tbody", {}, snap.map((s) => el("tr", {}, el("td", {}, el("code", {}, s.path)), el("td", { class: "num" }, fmt(s.size)),
            el("td", {}, el("code", { title: s.sha256 }, String(s.sha256).slice(0, 16))))))) : el("p", { class: "muted" }, "no snapshot recorded")));
  }

  function provenanceSection(t) {
    const p = t.provenance || {};
    const pairs = (o) => Object.entries(o || {}).map(([k, v]) => k + "=" + v).join(", ");
    return section("Provenance", kv([["agent model", p.agent_model], ["user simulator model", p.user_model], ["seeds", pairs(p.seeds)],
      ["prompt versions", pairs(p.prompt_versions)], ["sandbox image", p.sandbox_image], ["ise-trace version", p.ise_trace_version],
      ["created at", p.created_at], ["stored at", t.view ? t.view.location : ""]]));
  }

  async function showTrajectory(id) {
    listUI = null;
    app.replaceChildren(el("p", { class: "muted" }, "Loading " + id + "…"));
    let t;
    try {
      t = await trajectory(id);
    } catch (e) {
      return showError(e.message);
    }
    const cs = calls(t);
    const st = t.stats || {};
    const o = t.outcome || {};
    const failed = cs.list.filter((c) => c.exec && c.exec.is_error);
    document.title = "ise-trace view · " + t.id;
    app.replaceChildren(el("article", { class: "trajectory", "data-id": t.id },
      el("p", {}, el("a", { href: lastList, id: "back" }, "← back to the list")),
      el("h1", {}, t.id),
      t.view && t.view.problem ? el("p", { class: "error" }, "not a valid trajectory record: " + t.view.problem) : null,
      el("p", { class: "badges" }, outcomeBadge(o.status), " ", badge(o.termination || "", "muted", "how the episode ended"), " ",
        verificationBadge(((t.verification || {}).passed ?? null) === null ? "unverified" : t.verification.passed ? "passed" : "failed",
          o.status === "success" && (t.verification || {}).passed === false)),
      o.reason ? el("p", { class: "reason" }, el("span", { class: "muted" }, "simulated user's verdict: "), o.reason) : null,
      el("p", { class: "stats" }, fmt(st.user_turns) + " user turns · " + fmt(st.dialogue_turns) + " dialogue turns · " +
        fmt(st.tool_calls) + " tool calls (" + fmt(st.unique_tools) + " tools) · ",
        el("span", { class: st.failed_calls ? "bad-text" : "" }, fmt(st.failed_calls) + " failed"), " · " + fmt(st.recovered_calls) + " recovered · ",
        el("span", { id: "drift" }, st.drift_turns ? fmt(st.drift_turns) + (st.drift_turns === 1 ? " simulator turn" : " simulator turns") + " regenerated for role drift" : "no drift regenerations recorded"),
        st.scripted_turns ? el("span", { id: "scripted", class: "bad-text" }, " · " + fmt(st.scripted_turns) + (st.scripted_turns === 1 ? " user turn" : " user turns") + " from a template (the simulator stayed out of role)") : null),
      failed.length ? el("p", { class: "jump" }, "failed calls: ", failed.map((c, i) => [i ? ", " : "", callLink(c.n)])) : null,
      intentSection(t),
      section("Conversation", el("div", { class: "conversation" }, conversation(t, cs))),
      verificationSection(t),
      provenanceSection(t)));
    window.scrollTo(0, 0);
  }

  window.addEventListener("hashchange", route);
  route();
})();

// The defender-mock console: plain JavaScript, no dependencies. Reads go to /api (with a
// development token) and /_mock; every change goes through the real /api, so the request
// journal, throttling and permissions apply as to any client. Live updates come from the state
// stream /_mock/events.
"use strict";

(function () {
  const body = document.body;
  const DEV_TENANT = body.dataset.tenant;
  const PAGE_SIZE = 50;
  const $ = (id) => document.getElementById(id);

  const ui = {
    tenant: DEV_TENANT,
    adminToken: null,
    token: null,
    tokenTenant: null,
    skip: 0,
    count: null,
    filters: { search: "", group: "", os: "", state: "" },
    summary: null,
    flagged: new Map(),
    rows: [],
    selected: null,
    history: new Map(), // actionId -> [{status, time}] seen on the stream
    journal: null, // null: unknown, true / false once probed
    clock: { now: null, at: 0, frozen: false },
    firstPaint: null,
  };
  window.defenderMockConsole = ui;

  // ---- small helpers --------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("data-")) e.setAttribute(k, v);
      else if (k === "onclick") e.addEventListener("click", v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function badge(text, kind) {
    return el("span", { class: "badge badge-" + kind, text });
  }

  function odataString(s) {
    return "'" + s.replace(/'/g, "''") + "'";
  }

  function shortTime(iso) {
    if (!iso) return "";
    return iso.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC");
  }

  function notice(text) {
    $("notice").textContent = text;
  }

  function showError(text) {
    const box = $("error");
    box.textContent = text;
    box.hidden = !text;
  }

  // ---- HTTP -----------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function errorOf(res) {
    let code = "";
    let message = res.status + " " + res.statusText;
    try {
      const j = await res.json();
      const e = j.error || j;
      code = e.code || e.error || "";
      message = e.message || e.error_description || message;
    } catch (_) {
      /* not JSON */
    }
    return new ApiError(res.status, code, message);
  }

  function mockHeaders(extra) {
    const h = Object.assign({}, extra || {});
    if (ui.adminToken) h.Authorization = "Bearer " + ui.adminToken;
    return h;
  }

  function tenantQuery(sep) {
    return (sep || "?") + "tenant=" + encodeURIComponent(ui.tenant);
  }

  // A control-plane call; the JSON body, or null for 204.
  async function mock(method, path, payload) {
    const opts = { method, headers: mockHeaders() };
    if (payload !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(payload);
    }
    const res = await fetch(path, opts);
    if (!res.ok) throw await errorOf(res);
    return res.status === 204 ? null : res.json();
  }

  // A development token for the tenant: `POST /_mock/token` when the server has it, else the
  // development app's client credentials at the tenant's token endpoint (the public
  // development secret, like Azurite's account key).
  async function fetchToken() {
    try {
      const res = await fetch("/_mock/token", {
        method: "POST",
        headers: mockHeaders({ "Content-Type": "application/json" }),
        body: JSON.stringify({ tenant: ui.tenant }),
      });
      if (res.ok) {
        const j = await res.json();
        if (j.access_token) return j.access_token;
      }
    } catch (_) {
      /* fall back below */
    }
    const form = new URLSearchParams({
      grant_type: "client_credentials",
      client_id: body.dataset.clientId,
      client_secret: body.dataset.clientSecret,
      scope: body.dataset.audience + "/.default",
    });
    const res = await fetch("/" + encodeURIComponent(ui.tenant) + "/oauth2/v2.0/token", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: form,
    });
    if (!res.ok) throw await errorOf(res);
    return (await res.json()).access_token;
  }

  async function token(fresh) {
    if (fresh || !ui.token || ui.tokenTenant !== ui.tenant) {
      ui.token = await fetchToken();
      ui.tokenTenant = ui.tenant;
    }
    return ui.token;
  }

  // An /api call with the development token; a 401 (the token expired on the emulator clock)
  // gets one new token and one retry.
  async function api(method, path, payload) {
    for (let attempt = 0; attempt < 2; attempt++) {
      const opts = {
        method,
        headers: { Authorization: "Bearer " + (await token(attempt > 0)) },
      };
      if (payload !== undefined) {
        opts.headers["Content-Type"] = "application/json";
        opts.body = JSON.stringify(payload);
      }
      const res = await fetch(path, opts);
      if (res.status === 401 && attempt === 0) continue;
      if (!res.ok) throw await errorOf(res);
      return res.status === 204 ? null : res.json();
    }
  }

  // ---- clock ----------------------------------------------------------------------------
  function renderClock() {
    const c = ui.clock;
    if (!c.now) return;
    const ms = c.frozen ? c.now : c.now + (performance.now() - c.at);
    const iso = new Date(ms).toISOString();
    const t = $("clock-now");
    t.dateTime = iso;
    t.textContent = shortTime(iso.replace(/\.\d+Z$/, "Z"));
  }

  function setClock(j) {
    ui.clock.now = Date.parse(j.now);
    ui.clock.at = performance.now();
    if (j.mode) {
      ui.clock.frozen = j.mode === "frozen";
      const m = $("clock-mode");
      m.textContent = ui.clock.frozen ? "Frozen" : "Running";
      m.className = "badge " + (ui.clock.frozen ? "badge-frozen" : "badge-ok");
    }
    renderClock();
  }

  async function loadClock() {
    try {
      setClock(await mock("GET", "/_mock/clock"));
    } catch (e) {
      showError("Clock: " + e.message);
    }
  }

  async function advance(seconds) {
    try {
      const j = await mock("POST", "/_mock/clock/advance", { seconds });
      showError("");
      setClock(j);
      notice("Clock advanced by " + labelOf(seconds) + ".");
      refreshSoon({ machine: true, feed: false });
    } catch (e) {
      showError("Advance refused: " + e.message);
    }
  }

  function labelOf(s) {
    return s >= 86400 ? s / 86400 + " day" : s >= 3600 ? s / 3600 + " h" : s >= 60 ? s / 60 + " min" : s + " s";
  }

  async function freeze(on) {
    try {
      setClock(await mock("POST", on ? "/_mock/clock/freeze" : "/_mock/clock/unfreeze", {}));
      notice(on ? "Clock frozen." : "Clock running.");
    } catch (e) {
      showError((on ? "Freeze" : "Unfreeze") + ": " + (e.status === 404 ? "this server has no clock freeze yet" : e.message));
    }
  }

  // ---- fleet ----------------------------------------------------------------------------
  async function loadSummary() {
    const s = await mock("GET", "/_mock/ui/summary" + tenantQuery());
    ui.summary = s;
    ui.flagged = new Map(s.flagged.map((f) => [f.machine.id, f]));
    fillSelect($("group"), "All groups", s.groups.map((g) => [String(g.id), g.name || "Group " + g.id]));
    fillSelect($("os"), "All platforms", s.osPlatforms.map((o) => [o, o]));
    return s;
  }

  function fillSelect(select, all, options) {
    const keep = select.value;
    const wanted = JSON.stringify(options);
    if (select.dataset.options === wanted) return;
    select.dataset.options = wanted;
    select.replaceChildren(el("option", { value: "", text: all }), ...options.map(([v, t]) => el("option", { value: v, text: t })));
    select.value = keep;
  }

  function stateBadges(id) {
    const f = ui.flagged.get(id);
    const out = [];
    if (f && f.isolation) out.push(badge("Isolated (" + f.isolation + ")", "isolated"));
    if (f && f.restricted) out.push(badge("Restricted", "restricted"));
    if (f) for (const a of f.inFlight) out.push(badge(a.type + " " + a.status, "pending"));
    if (!out.length) out.push(badge("Normal", "ok"));
    return out;
  }

  function matchesState(f) {
    switch (ui.filters.state) {
      case "isolated":
        return !!f.isolation;
      case "restricted":
        return f.restricted;
      case "inflight":
        return f.inFlight.length > 0;
      default:
        return true;
    }
  }

  // One page of machines: from /api/machines ($filter, $top, $skip), or for a state filter from
  // the summary's flagged machines (the Machine entity does not show isolation).
  async function loadFleet() {
    const f = ui.filters;
    let rows;
    if (f.state) {
      const search = f.search.toLowerCase();
      const all = [...ui.flagged.values()].filter(
        (x) =>
          matchesState(x) &&
          (!search || x.machine.computerDnsName.toLowerCase().includes(search)) &&
          (!f.group || String(x.machine.rbacGroupId) === f.group) &&
          (!f.os || x.machine.osPlatform === f.os),
      );
      all.sort((a, b) => a.machine.computerDnsName.localeCompare(b.machine.computerDnsName));
      ui.count = all.length;
      rows = all.slice(ui.skip, ui.skip + PAGE_SIZE).map((x) => x.machine);
    } else {
      const clauses = [];
      if (f.search) clauses.push("contains(computerDnsName," + odataString(f.search.toLowerCase()) + ")");
      if (f.group) clauses.push("rbacGroupId eq " + Number(f.group));
      if (f.os) clauses.push("osPlatform eq " + odataString(f.os));
      const q = new URLSearchParams({ $top: String(PAGE_SIZE), $skip: String(ui.skip), $count: "true", $orderby: "computerDnsName" });
      if (clauses.length) q.set("$filter", clauses.join(" and "));
      const j = await api("GET", "/api/machines?" + q.toString().replace(/%24/g, "$"));
      rows = j.value;
      ui.count = j["@odata.count"] ?? null;
    }
    ui.rows = rows;
    renderFleet();
  }

  function renderFleet() {
    const tbody = $("fleet-rows");
    tbody.replaceChildren(
      ...ui.rows.map((m) =>
        el(
          "tr",
          { "data-machine": m.id, class: ui.selected === m.id ? "selected" : null },
          el("th", { scope: "row" }, el("button", { type: "button", class: "link", "data-open": m.id, "aria-label": "Open " + m.computerDnsName, text: m.computerDnsName })),
          el("td", { class: "state" }, ...stateBadges(m.id)),
          el("td", { text: m.osPlatform || "" }),
          el("td", {}, badge(m.healthStatus || "Unknown", m.healthStatus === "Active" ? "ok" : "warn")),
          el("td", { text: m.riskScore || "None" }),
          el("td", { text: m.exposureLevel || "None" }),
          el("td", { text: m.rbacGroupName || "" }),
          el("td", { text: (m.machineTags || []).join(", ") }),
        ),
      ),
    );
    const from = ui.rows.length ? ui.skip + 1 : 0;
    const to = ui.skip + ui.rows.length;
    const total = ui.count === null ? "" : " of " + ui.count;
    $("fleet-caption").textContent = "Machines " + from + "–" + to + total + " in tenant " + ui.tenant;
    $("page-info").textContent = "Machines " + from + "–" + to + total;
    $("prev").disabled = ui.skip === 0;
    $("next").disabled = ui.count === null ? ui.rows.length < PAGE_SIZE : to >= ui.count;
    if (ui.firstPaint === null && ui.rows.length) {
      requestAnimationFrame(() => {
        ui.firstPaint = Math.round(performance.now());
        document.documentElement.dataset.firstPaint = String(ui.firstPaint);
      });
    }
  }

  // Re-renders the visible rows' badges from the summary (after a state change).
  function renderBadges() {
    for (const tr of $("fleet-rows").children) {
      const cell = tr.querySelector("td.state");
      if (cell) cell.replaceChildren(...stateBadges(tr.dataset.machine));
    }
  }

  // ---- machine --------------------------------------------------------------------------
  async function openMachine(id, focus) {
    ui.selected = id;
    for (const tr of $("fleet-rows").children) tr.classList.toggle("selected", tr.dataset.machine === id);
    await loadMachine();
    if (focus) $("machine").focus();
  }

  async function loadMachine() {
    const id = ui.selected;
    if (!id) return;
    let m, view, actions;
    try {
      [m, view, actions] = await Promise.all([
        api("GET", "/api/machines/" + encodeURIComponent(id)),
        mock("GET", "/_mock/machines/" + encodeURIComponent(id) + tenantQuery()),
        api("GET", "/api/machineactions?$filter=" + encodeURIComponent("machineId eq " + odataString(id)) + "&$orderby=creationDateTimeUtc%20desc&$top=50"),
      ]);
    } catch (e) {
      showError("Machine " + id + ": " + e.message);
      return;
    }
    if (ui.selected !== id) return;
    $("machine-empty").hidden = true;
    $("machine-body").hidden = false;
    $("machine-h").textContent = m.computerDnsName;
    const badges = [];
    if (view.isolationScope) badges.push(badge("Isolated (" + view.isolationScope + ")", "isolated"));
    else badges.push(badge("Not isolated", "ok"));
    badges.push(view.appExecutionRestricted ? badge("Restricted", "restricted") : badge("Unrestricted", "ok"));
    badges.push(view.simulation.online ? badge("Online", "ok") : badge("Offline", "warn"));
    if (view.inFlightActions.length) badges.push(badge(view.inFlightActions.length + " in flight", "pending"));
    $("machine-badges").replaceChildren(...badges);
    const facts = [
      ["Id", m.id],
      ["OS", [m.osPlatform, m.version, m.osProcessor].filter(Boolean).join(" ")],
      ["Health", m.healthStatus],
      ["Risk", m.riskScore],
      ["Exposure", m.exposureLevel],
      ["Device group", (m.rbacGroupName || "") + " (" + m.rbacGroupId + ")"],
      ["Tags", (m.machineTags || []).join(", ")],
      ["Last IP", m.lastIpAddress],
      ["Last seen", shortTime(m.lastSeen)],
      ["Onboarding", m.onboardingStatus],
    ];
    $("machine-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v ?? "" })]));
    $("online").checked = !!view.simulation.online;
    renderTimeline(actions.value, view);
    loadAlerts(id);
  }

  function renderTimeline(actions, view) {
    const ol = $("timeline");
    if (!actions.length) {
      ol.replaceChildren(el("li", { text: "No actions yet." }));
      return;
    }
    const inFlight = new Set(view.inFlightActions);
    ol.replaceChildren(
      ...actions.map((a) => {
        const steps = [{ status: "Pending", time: a.creationDateTimeUtc, note: "requested by " + a.requestor + (a.requestorComment ? ": “" + a.requestorComment + "”" : "") }];
        for (const h of ui.history.get(a.id) || []) {
          if (!steps.some((s) => s.status === h.status)) steps.push({ status: h.status, time: h.time });
        }
        if (!steps.some((s) => s.status === a.status)) steps.push({ status: a.status, time: a.lastUpdateDateTimeUtc });
        if (a.cancellationDateTimeUtc) {
          const c = steps.find((s) => s.status === "Cancelled");
          if (c) c.note = "by " + a.cancellationRequestor + (a.cancellationComment ? ": “" + a.cancellationComment + "”" : "");
        }
        const label = a.type + (a.scope ? " (" + a.scope + ")" : "");
        return el(
          "li",
          { "data-action": a.id, "data-status": a.status },
          el("p", {}, el("strong", { text: label }), " ", badge(a.status, statusKind(a.status)), " ",
            inFlight.has(a.id) ? el("button", { type: "button", "data-cancel": a.id, text: "Cancel " + a.type }) : null),
          el("ol", { class: "steps" }, ...steps.map((s) => el("li", {}, el("time", { datetime: s.time, text: shortTime(s.time) }), " " + s.status + (s.note ? " — " + s.note : "")))),
        );
      }),
    );
  }

  function statusKind(s) {
    return s === "Succeeded" ? "ok" : s === "Pending" || s === "InProgress" ? "pending" : "warn";
  }

  async function loadAlerts(id) {
    const box = $("alerts");
    try {
      const j = await api("GET", "/api/machines/" + encodeURIComponent(id) + "/alerts");
      const alerts = j.value || [];
      box.replaceChildren(
        alerts.length
          ? el("ul", {}, ...alerts.map((a) => el("li", {}, badge(a.severity || "Unknown", "warn"), " ", a.title || a.id, " ", el("span", { class: "sub", text: (a.status || "") + " " + shortTime(a.alertCreationTime || a.creationTime) }))))
          : el("p", { text: "No alerts." }),
      );
    } catch (e) {
      box.replaceChildren(el("p", { class: "sub", text: e.status === 404 ? "Alerts are not available on this server." : "Alerts: " + e.message }));
    }
  }

  async function act(kind) {
    const id = ui.selected;
    if (!id) return;
    showError("");
    const payload = { Comment: $("comment").value || "From the defender-mock console" };
    if (kind === "isolate") payload.IsolationType = $("isolation-type").value;
    if (kind === "runantivirusscan") payload.ScanType = "Quick";
    try {
      const a = await api("POST", "/api/machines/" + encodeURIComponent(id) + "/" + kind, payload);
      showError("");
      notice(a.type + " on " + a.computerDnsName + ": " + a.status + ".");
    } catch (e) {
      showError("The API refused " + kind + " (" + e.status + (e.code ? " " + e.code : "") + "): " + e.message);
    }
    await refresh({ machine: true, feed: true });
  }

  async function cancel(actionId) {
    showError("");
    try {
      const a = await api("POST", "/api/machineactions/" + encodeURIComponent(actionId) + "/cancel", { Comment: $("comment").value || "Cancelled from the console" });
      notice(a.type + " on " + a.computerDnsName + ": " + a.status + ".");
    } catch (e) {
      showError("The API refused the cancel (" + e.status + (e.code ? " " + e.code : "") + "): " + e.message);
    }
    await refresh({ machine: true, feed: true });
  }

  async function setBehaviour() {
    const id = ui.selected;
    if (!id) return;
    const change = { online: $("online").checked };
    if ($("next-outcome").value) change.nextOutcome = $("next-outcome").value;
    try {
      await mock("PATCH", "/_mock/machines/" + encodeURIComponent(id) + "/simulation" + tenantQuery(), change);
      notice("Device behaviour of " + $("machine-h").textContent + " changed.");
      $("next-outcome").value = "";
    } catch (e) {
      showError("Behaviour refused: " + e.message);
    }
    await refresh({ machine: true, feed: false });
  }

  // ---- activity feed --------------------------------------------------------------------
  async function loadFeed() {
    if (ui.journal !== false) {
      try {
        const j = await mock("GET", "/_mock/requests" + tenantQuery() + "&path=" + encodeURIComponent("/api/**") + "&limit=200");
        ui.journal = true;
        $("activity-source").textContent = "Latest API calls (request journal)";
        renderJournal(j.value || []);
        return;
      } catch (e) {
        if (e.status !== 404) return;
        ui.journal = false;
      }
    }
    $("activity-source").textContent = "Latest machine actions (no request journal on this server)";
    try {
      const j = await api("GET", "/api/machineactions?$orderby=creationDateTimeUtc%20desc&$top=25");
      $("feed").replaceChildren(
        ...j.value.map((a) =>
          el("li", {}, el("time", { datetime: a.lastUpdateDateTimeUtc, text: shortTime(a.lastUpdateDateTimeUtc) }), " ", el("strong", { text: a.requestor }), " asked for " + a.type + " on " + a.computerDnsName + " ", badge(a.status, statusKind(a.status))),
        ),
      );
    } catch (e) {
      $("feed").replaceChildren(el("li", { text: "Activity: " + e.message }));
    }
  }

  // The journal's latest calls that changed something or were refused: reads that succeeded
  // (the page's own among them) would drown the feed.
  function renderJournal(entries) {
    const names = new Map(ui.rows.map((m) => [m.id, m.computerDnsName]));
    if (ui.summary) for (const f of ui.summary.flagged) names.set(f.machine.id, f.machine.computerDnsName);
    const shown = entries.filter((r) => r.method !== "GET" || r.status >= 400).slice(-25).reverse();
    $("feed").replaceChildren(
      ...shown.map((r) => {
        const who = r.user || (r.appId === body.dataset.clientId ? "defender-mock development app" : r.appId) || "anonymous";
        const last = (r.route || "").split("/").pop();
        const what = last && !last.startsWith("{") ? last : r.method + " " + r.path;
        const target = r.machineId ? " on " + (names.get(r.machineId) || r.machineId) : "";
        return el("li", {}, el("time", { datetime: r.time, text: shortTime(r.time) }), " ", el("strong", { text: who }), " called " + what + target + " ", badge(String(r.status), r.status < 400 ? "ok" : "warn"));
      }),
    );
    if (!shown.length) $("feed").replaceChildren(el("li", { text: "No API calls that changed anything yet." }));
  }

  // ---- live stream ----------------------------------------------------------------------
  let stream = null;

  function setLive(text, kind) {
    const l = $("live");
    l.textContent = text;
    l.className = "badge badge-" + kind;
  }

  // The state stream read with fetch (so the admin token can be sent), reconnecting on loss.
  async function follow() {
    if (stream) stream.abort();
    const ctl = new AbortController();
    stream = ctl;
    let backoff = 500;
    while (!ctl.signal.aborted) {
      try {
        const res = await fetch("/_mock/events" + tenantQuery(), { headers: mockHeaders({ Accept: "text/event-stream" }), signal: ctl.signal });
        if (!res.ok) throw await errorOf(res);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let cut;
          while ((cut = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, cut);
            buf = buf.slice(cut + 2);
            let type = "message";
            const data = [];
            for (const line of block.split("\n")) {
              if (line.startsWith("event:")) type = line.slice(6).trim();
              else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
            }
            if (data.length) onEvent(type, data.join("\n"));
            backoff = 500;
          }
        }
      } catch (e) {
        if (ctl.signal.aborted) return;
      }
      setLive("Reconnecting", "off");
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 5000);
    }
  }

  function onEvent(type, data) {
    if (type === "ready") {
      setLive("Live", "ok");
      refreshSoon({ machine: true, feed: true });
      return;
    }
    let e;
    try {
      e = JSON.parse(data);
    } catch (_) {
      return;
    }
    if (type === "action.created" || type === "action.updated") {
      const h = ui.history.get(e.actionId) || [];
      h.push({ status: e.status, time: e.time });
      ui.history.set(e.actionId, h);
      notice(e.actionType + " on " + e.computerDnsName + ": " + e.status + " (" + e.requestor + ")");
    }
    // Only what the change touches is read again: the page's own /api reads count against the
    // development app's rate limit like any client's.
    const everything = type === "tenant.reset" || type === "machine.seeded" || type === "lagged";
    refreshSoon({
      machine: everything || (!!ui.selected && e.machineId === ui.selected),
      feed: everything || type.startsWith("action."),
    });
  }

  // ---- refresh --------------------------------------------------------------------------
  // Changes arriving together are read once: the summary (control plane) always, the machine
  // view and the feed when asked for.
  let timer = null;
  let pending = { machine: false, feed: false };
  function refreshSoon(parts) {
    parts = parts || { machine: true, feed: true };
    pending = { machine: pending.machine || parts.machine, feed: pending.feed || parts.feed };
    clearTimeout(timer);
    timer = setTimeout(() => refresh(), 100);
  }

  async function refresh(parts) {
    clearTimeout(timer);
    const want = parts || pending;
    pending = { machine: false, feed: false };
    try {
      await loadSummary();
      if (ui.filters.state) await loadFleet();
      else renderBadges();
    } catch (e) {
      showError("Fleet: " + e.message);
    }
    await Promise.all([want.machine ? loadMachine() : null, want.feed && !ui.journal ? loadFeed() : null, loadClock()]);
  }

  async function openTenant(t) {
    ui.tenant = t || DEV_TENANT;
    $("tenant").value = ui.tenant;
    ui.skip = 0;
    ui.selected = null;
    $("machine-body").hidden = true;
    $("machine-empty").hidden = false;
    $("machine-h").textContent = "Machine";
    showError("");
    try {
      // The first page first: it is what the audience waits for.
      await Promise.all([loadFleet(), loadSummary().then(renderBadges)]);
    } catch (e) {
      showError("Fleet: " + e.message);
    }
    loadFeed();
    follow();
  }

  // ---- wiring ---------------------------------------------------------------------------
  function start() {
    const hash = new URLSearchParams(location.hash.slice(1));
    if (hash.get("adminToken")) sessionStorage.setItem("defenderMockAdminToken", hash.get("adminToken"));
    ui.adminToken = sessionStorage.getItem("defenderMockAdminToken");
    const params = new URLSearchParams(location.search);

    $("tenant-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      openTenant($("tenant").value.trim());
    });
    $("filters").addEventListener("submit", (ev) => {
      ev.preventDefault();
      ui.filters = { search: $("search").value.trim(), group: $("group").value, os: $("os").value, state: $("state").value };
      ui.skip = 0;
      loadFleet().catch((e) => showError("Search: " + e.message));
    });
    for (const id of ["group", "os", "state"]) $(id).addEventListener("change", () => $("filters").requestSubmit());
    $("prev").addEventListener("click", () => {
      ui.skip = Math.max(0, ui.skip - PAGE_SIZE);
      loadFleet().catch((e) => showError(e.message));
    });
    $("next").addEventListener("click", () => {
      ui.skip += PAGE_SIZE;
      loadFleet().catch((e) => showError(e.message));
    });
    $("fleet-rows").addEventListener("click", (ev) => {
      const b = ev.target.closest("[data-open]");
      if (b) openMachine(b.dataset.open, true);
    });
    $("action-form").addEventListener("click", (ev) => {
      const b = ev.target.closest("[data-act]");
      if (b) act(b.dataset.act);
    });
    $("action-form").addEventListener("submit", (ev) => ev.preventDefault());
    $("timeline").addEventListener("click", (ev) => {
      const b = ev.target.closest("[data-cancel]");
      if (b) cancel(b.dataset.cancel);
    });
    $("behaviour-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      setBehaviour();
    });
    for (const b of document.querySelectorAll("[data-advance]")) b.addEventListener("click", () => advance(Number(b.dataset.advance)));
    $("freeze").addEventListener("click", () => freeze(true));
    $("unfreeze").addEventListener("click", () => freeze(false));
    setInterval(renderClock, 1000);
    setInterval(loadClock, 15000);
    setInterval(() => {
      if (ui.journal) loadFeed();
    }, 3000);
    loadClock();
    openTenant(params.get("tenant") || DEV_TENANT);
  }

  start();
})();

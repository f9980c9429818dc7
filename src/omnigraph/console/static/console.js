// The omnigraph console: every figure comes from /graphql, asked with the key the user signed
// in with (kept in this tab's sessionStorage, sent as a Bearer token). No framework, no build.
"use strict";

const KEY = "omnigraph.console.key";
const SIGNED_IN = "omnigraph.console.signedIn"; // set by the form, with or without a key
const $ = (id) => document.getElementById(id);

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "—" : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function heading(row, text, scope) {
  const th = document.createElement("th");
  th.scope = scope;
  th.textContent = text;
  row.appendChild(th);
  return th;
}

// The table `selector` names, a row per `rows` entry and a column per `columns` entry under a
// header row (`corner` above the rows' names); `fill(row, rowName, column)` adds each cell.
function crossTable(selector, corner, rows, columns, fill) {
  const top = document.createElement("tr");
  for (const label of [corner, ...columns]) heading(top, label, "col");
  document.querySelector(`${selector} thead`).replaceChildren(top);
  const body = document.querySelector(`${selector} tbody`);
  body.replaceChildren();
  for (const name of rows) {
    const row = document.createElement("tr");
    heading(row, name, "row");
    for (const column of columns) fill(row, name, column);
    body.appendChild(row);
  }
}

function say(text) {
  const box = $("message");
  box.textContent = text;
  box.hidden = !text;
}

class GraphQLError extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join("; "));
    this.codes = errors.map((e) => (e.extensions || {}).code);
  }
}

async function gql(query, variables) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  const key = sessionStorage.getItem(KEY);
  if (key) headers.Authorization = `Bearer ${key}`;
  const response = await fetch("/graphql", {
    method: "POST",
    headers,
    body: JSON.stringify({ query, variables: variables || {} }),
  });
  let body;
  try {
    body = await response.json();
  } catch (error) {
    throw new GraphQLError([{ message: `HTTP ${response.status}`, extensions: { code: "HTTP" } }]);
  }
  if (body.errors && body.errors.length) throw new GraphQLError(body.errors);
  if (!response.ok) throw new GraphQLError([{ message: `HTTP ${response.status}` }]);
  return body.data;
}

// A v4 UUID: crypto.randomUUID where the page is a secure context, else from getRandomValues.
function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function age(seconds) {
  if (seconds < 3600) return `${Math.max(0, Math.floor(seconds / 60))} min`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h`;
  return `${Math.floor(seconds / 86400)} d ${Math.floor((seconds % 86400) / 3600)} h`;
}

// ---- sign-in ---------------------------------------------------------------------------

// What the console needs: reading exceptions (support, finance, reporting; admin).
const PROBE = "query ConsoleProbe { exceptionOperations { asOf } }";

async function signIn() {
  say("");
  if (!sessionStorage.getItem(SIGNED_IN)) {
    $("sign-in").hidden = false;
    $("api-key").focus();
    return null;
  }
  try {
    const data = await gql(PROBE);
    $("sign-in").hidden = true;
    $("main").hidden = false;
    $("who").hidden = false;
    $("who-text").textContent = sessionStorage.getItem(KEY) ? "Signed in with a key" : "Local developer";
    return data.exceptionOperations.asOf;
  } catch (error) {
    $("main").hidden = true;
    $("who").hidden = !sessionStorage.getItem(KEY);
    const codes = error.codes || [];
    if (codes.includes("FORBIDDEN")) {
      $("sign-in").hidden = true;
      $("who-text").textContent = "Signed in";
      say("This key's roles give no access to the console (it needs support, finance or reporting). Sign out and use another key.");
    } else {
      $("sign-in").hidden = false;
      sessionStorage.removeItem(SIGNED_IN);
      say(`Sign-in refused: ${error.message}`);
      $("api-key").focus();
    }
    return null;
  }
}

function setUpSignIn(start) {
  $("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = $("api-key").value.trim();
    if (key) sessionStorage.setItem(KEY, key);
    else sessionStorage.removeItem(KEY);
    sessionStorage.setItem(SIGNED_IN, "1");
    $("api-key").value = "";
    const now = await signIn();
    if (now) start(now);
  });
  $("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(SIGNED_IN);
    location.reload();
  });
}

// ---- the exception queue ---------------------------------------------------------------

const EXCEPTION_FIELDS = `id kind status ownerSource ownerKind subject summary detectedAt
  resolution resolvedAt lastError allowedResolutions
  commands { id resolution status attempts lastError ownerAnswer deliveredAt idempotencyKey }`;
const QUEUE = `query ConsoleQueue($filter: ExceptionFilter) {
  exceptionOperations { asOf }
  exceptions(first: 100, filter: $filter) { edges { node { ${EXCEPTION_FIELDS} } } }
}`;
const AGE_SECONDS = { "1h": 3600, "4h": 14400, "24h": 86400, "72h": 259200 };
const NOT_RESOLVED = ["OPEN", "ACKNOWLEDGED", "RESOLUTION_PENDING", "RESOLUTION_FAILED"];

const queue = { rows: [], asOf: null, attempt: null, watching: null, following: null };

function queueFilter() {
  const filter = {};
  const kind = $("f-kind").value;
  const owner = $("f-owner").value;
  const status = $("f-status").value;
  const ageValue = $("f-age").value;
  if (kind) filter.kinds = [kind];
  if (owner) filter.ownerKind = owner;
  if (status === "OPEN_ANY") filter.statuses = NOT_RESOLVED;
  else if (status) filter.statuses = [status];
  if (ageValue && queue.asOf) {
    const before = new Date(Date.parse(queue.asOf) - AGE_SECONDS[ageValue] * 1000);
    filter.openedBefore = before.toISOString();
  }
  return filter;
}

async function loadQueue() {
  try {
    const data = await gql(QUEUE, { filter: queueFilter() });
    queue.asOf = data.exceptionOperations.asOf;
    queue.rows = data.exceptions.edges.map((e) => e.node);
    drawQueue();
  } catch (error) {
    say(`The queue could not be read: ${error.message}`);
  }
}

function drawQueue() {
  const now = Date.parse(queue.asOf);
  const rows = queue.rows.slice();
  const oldest = $("f-sort").value === "oldest";
  rows.sort((a, b) => (Date.parse(a.detectedAt) - Date.parse(b.detectedAt)) * (oldest ? 1 : -1));
  const body = document.querySelector("#queue tbody");
  body.replaceChildren();
  for (const x of rows) {
    const row = document.createElement("tr");
    row.dataset.id = x.id;
    const pick = document.createElement("input");
    pick.type = "checkbox";
    pick.className = "pick";
    pick.value = x.id;
    pick.setAttribute("aria-label", `Select ${x.kind} ${x.subject}`);
    const first = document.createElement("td");
    first.appendChild(pick);
    row.appendChild(first);
    cell(row, x.kind, "kind");
    cell(row, `${x.ownerSource} (${x.ownerKind})`, "owner");
    cell(row, x.subject, "subject");
    cell(row, x.summary);
    const ageCell = cell(row, age((now - Date.parse(x.detectedAt)) / 1000), "age");
    ageCell.title = x.detectedAt;
    cell(row, x.status, `status status-${x.status}`);
    const actions = document.createElement("td");
    if (x.status !== "RESOLVED") {
      const open = document.createElement("button");
      open.type = "button";
      open.textContent = "Resolve…";
      open.setAttribute("aria-label", `Resolve ${x.kind} ${x.subject}`);
      open.addEventListener("click", () => openResolve(x));
      actions.appendChild(open);
    }
    row.appendChild(actions);
    body.appendChild(row);
  }
  $("queue-count").textContent = `${rows.length} exception${rows.length === 1 ? "" : "s"} shown`;
}

async function acknowledgeSelected() {
  const ids = Array.from(document.querySelectorAll("#queue .pick:checked"), (box) => box.value);
  if (!ids.length) {
    say("Select one or more exceptions to acknowledge.");
    return;
  }
  // one request: each acknowledgement an alias, each answered on its own
  const fields = ids.map((_, i) =>
    `a${i}: acknowledgeException(id: $id${i}) { exception { id status } userErrors { code message } }`);
  const vars = ids.map((_, i) => `$id${i}: ID!`).join(", ");
  const variables = Object.fromEntries(ids.map((id, i) => [`id${i}`, id]));
  try {
    const data = await gql(`mutation ConsoleAcknowledge(${vars}) { ${fields.join(" ")} }`, variables);
    const refused = Object.values(data).flatMap((p) => p.userErrors.map((e) => e.message));
    say(refused.length ? `Not acknowledged: ${refused.join("; ")}` : "");
    $("queue-count").textContent = `${ids.length - refused.length} acknowledged`;
  } catch (error) {
    say(`Acknowledging failed: ${error.message}`);
  }
  await loadQueue();
}

function openResolve(x) {
  queue.attempt = null;
  queue.following = null;
  const panel = $("resolve-panel");
  panel.hidden = false;
  panel.dataset.id = x.id;
  $("resolve-summary").textContent = `${x.kind} · ${x.subject} · ${x.summary}`;
  const select = $("resolution");
  select.replaceChildren();
  for (const name of x.allowedResolutions) {
    const option = document.createElement("option");
    option.value = option.textContent = name;
    select.appendChild(option);
  }
  $("resolve-submit").disabled = !x.allowedResolutions.length || x.status === "RESOLUTION_PENDING";
  $("resolve-retry").hidden = true;
  drawProgress(x);
  select.focus();
}

const RESOLVE = `mutation ConsoleResolve($input: ResolveExceptionInput!) {
  resolveException(input: $input) { exception { ${EXCEPTION_FIELDS} } userErrors { code message } }
}`;

// One attempt, one idempotency key: a double click sends nothing more (the button is disabled
// while it is in flight), and "retry" sends the same attempt again, which the service applies once.
async function sendAttempt() {
  const attempt = queue.attempt;
  $("resolve-submit").disabled = true;
  $("resolve-retry").hidden = true;
  $("progress").textContent = "Sending…";
  try {
    const data = await gql(RESOLVE, { input: attempt.input });
    const payload = data.resolveException;
    if (payload.userErrors.length) {
      $("progress").textContent = `Refused: ${payload.userErrors.map((e) => e.message).join("; ")}`;
      queue.attempt = null;
      $("resolve-submit").disabled = false;
      return;
    }
    changed(payload.exception);
    watch(payload.exception.id);
  } catch (error) {
    $("progress").textContent = `Not sent (${error.message}): retry sends the same attempt.`;
    $("resolve-retry").hidden = false;
    $("resolve-retry").focus();
  }
}

function drawProgress(x) {
  const last = x.commands.length ? x.commands[x.commands.length - 1] : null;
  const command = last
    ? ` · command ${last.status} after ${last.attempts} attempt${last.attempts === 1 ? "" : "s"}` +
      (last.lastError ? ` (${last.lastError})` : "")
    : "";
  $("progress").textContent = `${x.status}${x.resolution ? ` (${x.resolution})` : ""}${command}`;
  $("progress").dataset.status = x.status;
  const list = $("commands");
  list.replaceChildren();
  for (const c of x.commands) {
    const item = document.createElement("li");
    item.textContent = `${c.resolution} → ${c.status}, attempts ${c.attempts}` +
      (c.ownerAnswer ? `, owner: ${c.ownerAnswer}` : "") + ` · key ${c.idempotencyKey}`;
    list.appendChild(item);
  }
}

const ONE = `query ConsoleException($id: ID!) { exception(id: $id) { ${EXCEPTION_FIELDS} } }`;
const EVENTS = `subscription ConsoleEvents { exceptionEvents { ${EXCEPTION_FIELDS} } }`;

// Live changes of every exception, from the exceptionEvents subscription over graphql-transport-ws.
// A browser cannot put a header on a WebSocket handshake: the key goes in connection_init's
// payload instead, and the service signs the socket in with it as it would a request.
const live = { socket: null, state: "closed" };

function liveState(state, text) {
  live.state = state;
  document.body.dataset.live = state;
  $("live-status").textContent = text;
}

function goLive() {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
  const socket = new WebSocket(url, "graphql-transport-ws");
  live.socket = socket;
  liveState("connecting", "Live updates: connecting…");
  socket.addEventListener("open", () => {
    const key = sessionStorage.getItem(KEY);
    socket.send(JSON.stringify({ type: "connection_init", payload: key ? { authorization: `Bearer ${key}` } : {} }));
  });
  socket.addEventListener("message", (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "connection_ack") {
      socket.send(JSON.stringify({ id: "events", type: "subscribe", payload: { query: EVENTS } }));
      liveState("open", "Live updates: on");
    } else if (event.type === "ping") {
      socket.send(JSON.stringify({ type: "pong" }));
    } else if (event.type === "next" && event.payload.data) {
      changed(event.payload.data.exceptionEvents);
    } else if (event.type === "error") {
      socket.close();
    }
  });
  socket.addEventListener("close", (closed) => {
    if (live.socket !== socket) return;
    live.socket = null;
    // the progress of a resolution being watched is then asked for once a second instead
    liveState("closed", `Live updates: off (${closed.code}${closed.reason ? ` ${closed.reason}` : ""}); progress is polled`);
    if (queue.following) watch(queue.following);
  });
}

// One exception changed: its row and, when it is the one being resolved, the progress panel.
function changed(x) {
  const index = queue.rows.findIndex((row) => row.id === x.id);
  if (index >= 0) {
    queue.rows[index] = x;
    const status = document.querySelector(`#queue tr[data-id="${x.id}"] .status`);
    if (status) {
      status.textContent = x.status;
      status.className = `status status-${x.status}`;
      // a resolved exception has nothing left to resolve
      if (x.status === "RESOLVED") status.parentElement.querySelector("button")?.remove();
    }
  }
  if ($("resolve-panel").dataset.id === x.id && !$("resolve-panel").hidden) drawProgress(x);
}

// The command's progress to the owner: from the live events while the socket is open, else
// polled once a second.
function watch(id) {
  queue.following = id;
  if (queue.watching) clearInterval(queue.watching);
  queue.watching = null;
  if (live.state === "open") return;
  let turns = 0;
  queue.watching = setInterval(async () => {
    turns += 1;
    try {
      const data = await gql(ONE, { id });
      changed(data.exception);
      if (["RESOLVED", "RESOLUTION_FAILED"].includes(data.exception.status) || turns > 300) {
        clearInterval(queue.watching);
        queue.watching = null;
      }
    } catch (error) {
      // a missed turn is retried on the next
    }
  }, 1000);
}

function startQueue() {
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    loadQueue();
  });
  $("f-sort").addEventListener("change", drawQueue);
  $("select-all").addEventListener("change", (event) => {
    for (const box of document.querySelectorAll("#queue .pick")) box.checked = event.target.checked;
  });
  $("ack-selected").addEventListener("click", acknowledgeSelected);
  $("resolve-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (queue.attempt) return; // this attempt is in flight or sent: retry reuses it
    queue.attempt = {
      input: {
        id: $("resolve-panel").dataset.id,
        resolution: $("resolution").value,
        note: $("resolve-note").value || null,
        idempotencyKey: newKey(),
      },
    };
    sendAttempt();
  });
  $("resolve-retry").addEventListener("click", sendAttempt);
  $("resolve-close").addEventListener("click", () => {
    $("resolve-panel").hidden = true;
    queue.attempt = null;
  });
  return () => {
    goLive();
    return loadQueue();
  };
}

// ---- order truth -----------------------------------------------------------------------

const CLAIM = "source sourceKind value asOf recordRef";
const ORDER = `query ConsoleOrder($source: String!, $ref: String!) {
  orderByRef(source: $source, ref: $ref) {
    id name channel fulfilmentMethod placedAt state channelState currency financialStatus
    externalRefs { source sourceKind ref }
    customer { name }
    totals { subtotal { amount currency } discount { amount currency } shipping { amount currency }
      tax { amount currency } total { amount currency } }
    provenance { field source sourceKind recordRef asOf authoritative }
    disagreements { field detectedAt authoritative { ${CLAIM} } others { ${CLAIM} } }
    lines { sku title quantity unitPrice { amount currency } allocated cancelled backordered
      picked shipped short }
    shipments { id carrier trackingNumber shippedAt deliveredAt lines { sku quantity } }
    payments { id source status amount { amount currency } captured { amount currency }
      refunded { amount currency } createdAt }
    exceptions { id kind status ownerSource summary detectedAt
      history { at status actor note } }
    changes { source eventType recordType recordId occurredAt }
  }
}`;

function served(order, field) {
  let value = order;
  for (const part of field.split(".")) {
    if (value === null || value === undefined) return null;
    value = value[part];
  }
  if (value && typeof value === "object" && "amount" in value) return `${value.amount} ${value.currency}`;
  if (value && typeof value === "object") return JSON.stringify(value);
  return value;
}

async function loadOrder(source, ref) {
  say("");
  let data;
  try {
    data = await gql(ORDER, { source, ref });
  } catch (error) {
    say(`The order could not be read: ${error.message}`);
    return;
  }
  const order = data.orderByRef;
  if (!order) {
    $("order").hidden = true;
    say(`No order ${ref} at ${source}.`);
    return;
  }
  $("order").hidden = false;
  $("order-title").textContent = `${order.name || order.id} · ${order.channel} · ${order.state}`;
  $("order-refs").textContent = order.externalRefs.map((r) => `${r.source} (${r.sourceKind}): ${r.ref}`).join(" · ");

  const byField = new Map();
  for (const p of order.provenance) {
    if (!byField.has(p.field)) byField.set(p.field, { owner: null, others: [] });
    const entry = byField.get(p.field);
    if (p.authoritative) entry.owner = p;
    else entry.others.push(p);
  }
  const disagreements = new Map(order.disagreements.map((d) => [d.field, d]));
  const body = document.querySelector("#fields tbody");
  body.replaceChildren();
  for (const [field, entry] of byField) {
    const row = document.createElement("tr");
    const conflict = disagreements.get(field);
    if (conflict) row.className = "disagrees";
    row.dataset.field = field;
    heading(row, field, "row");
    cell(row, conflict ? conflict.authoritative.value : served(order, field));
    cell(row, entry.owner ? `${entry.owner.source} (${entry.owner.sourceKind})` : "—");
    cell(row, entry.owner ? entry.owner.asOf : null);
    const claims = [];
    if (conflict) {
      for (const c of conflict.others) claims.push(`DISAGREES: ${c.source} says ${c.value} (as of ${c.asOf})`);
    }
    const disagreeing = new Set(conflict ? conflict.others.map((c) => c.source) : []);
    for (const o of entry.others) {
      if (!disagreeing.has(o.source)) claims.push(`${o.source} agrees (as of ${o.asOf})`);
    }
    cell(row, claims.length ? claims.join("; ") : "no other system", conflict ? "claims conflict" : "claims");
    body.appendChild(row);
  }
  // a disagreement about a field the provenance does not list (a line's, say) is shown too
  for (const [field, d] of disagreements) {
    if (byField.has(field)) continue;
    const row = document.createElement("tr");
    row.className = "disagrees";
    row.dataset.field = field;
    heading(row, field, "row");
    cell(row, d.authoritative.value);
    cell(row, `${d.authoritative.source} (${d.authoritative.sourceKind})`);
    cell(row, d.authoritative.asOf);
    cell(row, d.others.map((c) => `DISAGREES: ${c.source} says ${c.value} (as of ${c.asOf})`).join("; "), "claims conflict");
    body.appendChild(row);
  }

  const lines = document.querySelector("#lines tbody");
  lines.replaceChildren();
  for (const l of order.lines) {
    const row = document.createElement("tr");
    for (const v of [l.sku, l.title, l.quantity, l.unitPrice ? `${l.unitPrice.amount} ${l.unitPrice.currency}` : null,
      l.allocated, l.cancelled, l.backordered, l.picked, l.shipped, l.short]) cell(row, v);
    lines.appendChild(row);
  }
  const list = (id, items, text) => {
    const ul = $(id);
    ul.replaceChildren();
    for (const item of items || []) {
      const li = document.createElement("li");
      li.textContent = text(item);
      ul.appendChild(li);
    }
    if (!ul.children.length) {
      const li = document.createElement("li");
      li.textContent = "none";
      ul.appendChild(li);
    }
  };
  list("shipments", order.shipments, (s) =>
    `${s.carrier} ${s.trackingNumber || ""} shipped ${s.shippedAt}${s.deliveredAt ? `, delivered ${s.deliveredAt}` : ""}: ` +
    s.lines.map((l) => `${l.quantity} × ${l.sku}`).join(", "));
  list("payments", order.payments, (p) =>
    `${p.source} ${p.id}: ${p.status}, ${p.amount.amount} ${p.amount.currency} (captured ${p.captured.amount}, refunded ${p.refunded.amount})`);
  const exceptions = document.querySelector("#order-exceptions tbody");
  exceptions.replaceChildren();
  for (const x of order.exceptions) {
    const row = document.createElement("tr");
    for (const v of [x.kind, x.ownerSource, x.status, x.summary, x.detectedAt]) cell(row, v);
    exceptions.appendChild(row);
  }
  if (!order.exceptions.length) {
    const row = document.createElement("tr");
    const td = cell(row, "none");
    td.colSpan = 5;
    exceptions.appendChild(row);
  }
  drawTimeline(order);
}

// What each system recorded and when: its change feed's events about the order (and its newest
// record, where its feed said nothing yet), shipments, payments and every exception step.
function drawTimeline(order) {
  const events = [];
  const storefront = order.externalRefs.find((r) => r.sourceKind === "STOREFRONT");
  events.push([order.placedAt, storefront ? storefront.source : "storefront", "order placed"]);
  const fed = new Set();
  for (const c of order.changes) {
    fed.add(c.source);
    events.push([c.occurredAt, c.source, `${c.eventType} (${c.recordType} ${c.recordId})`]);
  }
  const latest = new Map(); // each other system's newest record of the order
  for (const p of order.provenance) {
    if (fed.has(p.source)) continue;
    const seen = latest.get(p.source);
    if (!seen || Date.parse(p.asOf) > Date.parse(seen.asOf)) latest.set(p.source, p);
  }
  for (const p of latest.values()) events.push([p.asOf, p.source, `latest record ${p.recordRef}`]);
  for (const s of order.shipments || []) {
    events.push([s.shippedAt, s.carrier, `shipment ${s.id} shipped`]);
    if (s.deliveredAt) events.push([s.deliveredAt, s.carrier, `shipment ${s.id} delivered`]);
  }
  for (const p of order.payments || []) events.push([p.createdAt, p.source, `payment ${p.id} ${p.status}`]);
  for (const x of order.exceptions) {
    for (const h of x.history) {
      events.push([h.at, h.actor, `${x.kind} ${h.status}${h.note ? `: ${h.note}` : ""}`]);
    }
  }
  events.sort((a, b) => Date.parse(a[0]) - Date.parse(b[0]));
  const body = document.querySelector("#timeline tbody");
  body.replaceChildren();
  for (const [at, who, what] of events) {
    const row = document.createElement("tr");
    for (const v of [at, who, what]) cell(row, v);
    body.appendChild(row);
  }
}

function startOrder() {
  const params = new URLSearchParams(location.search);
  if (params.get("source")) $("o-source").value = params.get("source");
  if (params.get("ref")) $("o-ref").value = params.get("ref");
  $("order-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const source = $("o-source").value;
    const ref = $("o-ref").value.trim();
    history.replaceState(null, "", `?source=${encodeURIComponent(source)}&ref=${encodeURIComponent(ref)}`);
    loadOrder(source, ref);
  });
  return () => {
    if ($("o-ref").value) loadOrder($("o-source").value, $("o-ref").value.trim());
  };
}

// ---- dashboard -----------------------------------------------------------------------

const OPERATIONS = `query ConsoleDashboard {
  exceptionOperations {
    asOf resolvedFrom resolvedTo resolved failed
    resolutionTime { count p50Seconds p90Seconds }
    resolutionTimesByDay { day kind count p50Seconds p90Seconds }
    interventionsByDay { day manual ownerAlone }
    openByKind { key count }
    openByAge { key count }
    open { kind ownerSource count }
  }
}`;
const PAYOUTS = `query ConsolePayouts($from: DateTime!, $to: DateTime!) {
  reconciliationSummary(from: $from, to: $to) {
    payouts { status count amount { amount currency } variance { amount currency } }
    arrivalToReconciliation { count p50Seconds p90Seconds maxSeconds }
  }
}`;

function span(className, text) {
  const made = document.createElement("span");
  made.className = className;
  if (text !== undefined) made.textContent = text;
  return made;
}

// One row per item: its label, its bars (each [class, amount], as a share of `top`; inside a
// `track` span when given) and its value.
function barChart(id, items, { key, label, bars, value, top, track, empty }) {
  const box = $(id);
  box.replaceChildren();
  for (const item of items) {
    const row = document.createElement("div");
    row.className = "bar-row";
    row.dataset.key = key(item);
    const drawn = bars(item).map(([className, amount]) => {
      const bar = span(className);
      bar.style.width = `${(100 * amount) / top}%`;
      return bar;
    });
    let middle = drawn;
    if (track) {
      const holder = span(track);
      holder.append(...drawn);
      middle = [holder];
    }
    row.append(span("bar-label", label(item)), ...middle, span("bar-value", value(item)));
    box.appendChild(row);
  }
  if (!items.length) box.textContent = empty;
}

function bars(id, items) {
  barChart(id, items, {
    key: (i) => i.key,
    label: (i) => i.key,
    bars: (i) => [["bar", i.count]],
    value: (i) => String(i.count),
    top: Math.max(1, ...items.map((i) => i.count)),
    empty: "none",
  });
}

function numbers(id, rows) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren();
  for (const values of rows) {
    const row = document.createElement("tr");
    for (const v of values) cell(row, v);
    body.appendChild(row);
  }
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 60) return `${Math.round(seconds)} s`;
  return seconds < 3600 ? `${Math.round(seconds / 60)} min` : `${(seconds / 3600).toFixed(1)} h`;
}

function figureList(id, items) {
  const figures = $(id);
  figures.replaceChildren();
  for (const [term, value] of items) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = String(value);
    figures.append(dt, dd);
  }
}

// One bar per day and kind: the median, with the 90th percentile as a lighter bar behind it.
function drawResolutionDays(days) {
  barChart("c-days", days, {
    key: (d) => `${d.day}|${d.kind}`,
    label: (d) => `${d.day} ${d.kind}`,
    track: "track",
    bars: (d) => [
      ["bar bar-p90", d.p90Seconds || 0],
      ["bar", d.p50Seconds || 0],
    ],
    value: (d) => `${duration(d.p50Seconds)} / ${duration(d.p90Seconds)}`,
    top: Math.max(1, ...days.map((d) => d.p90Seconds || 0)),
    empty: "No resolutions in the period.",
  });
  numbers("n-days", days.map((d) => [d.day, d.kind, d.count, d.p50Seconds, d.p90Seconds]));
}

// Per day: resolutions that needed a person, and those the systems made alone, stacked.
function drawInterventions(days) {
  barChart("c-manual", days, {
    key: (d) => d.day,
    label: (d) => d.day,
    track: "stack",
    bars: (d) => [
      ["bar bar-manual", d.manual],
      ["bar bar-alone", d.ownerAlone],
    ],
    value: (d) => `${d.manual} / ${d.ownerAlone}`,
    top: Math.max(1, ...days.map((d) => d.manual + d.ownerAlone)),
    empty: "No resolutions in the period.",
  });
  numbers("n-manual", days.map((d) => [d.day, d.manual, d.ownerAlone]));
}

async function loadDashboard() {
  $("q-exceptions").textContent = OPERATIONS;
  $("q-payouts").textContent = PAYOUTS;
  let ops;
  try {
    ops = (await gql(OPERATIONS)).exceptionOperations;
  } catch (error) {
    say(`The dashboard could not be read: ${error.message}`);
    return;
  }
  $("d-asof").textContent = ops.asOf;
  bars("c-kind", ops.openByKind);
  numbers("n-kind", ops.openByKind.map((c) => [c.key, c.count]));
  bars("c-age", ops.openByAge);
  numbers("n-age", ops.openByAge.map((c) => [c.key, c.count]));

  const owners = [...new Set(ops.open.map((g) => g.ownerSource))].sort();
  const kinds = [...new Set(ops.open.map((g) => g.kind))].sort();
  const count = new Map();
  for (const g of ops.open) {
    const k = `${g.kind}|${g.ownerSource}`;
    count.set(k, (count.get(k) || 0) + g.count);
  }
  crossTable("#c-matrix", "Kind", kinds, owners, (row, kind, owner) => {
    const n = count.get(`${kind}|${owner}`) || 0;
    const td = cell(row, n || "", n ? "hot" : "");
    td.dataset.kind = kind;
    td.dataset.owner = owner;
  });

  figureList("c-time", [
    ["Resolved", ops.resolved],
    ["Failed", ops.failed],
    ["Median time to resolve", duration(ops.resolutionTime.p50Seconds)],
    ["90th percentile", duration(ops.resolutionTime.p90Seconds)],
  ]);

  drawResolutionDays(ops.resolutionTimesByDay);
  drawInterventions(ops.interventionsByDay);

  const to = new Date(Date.parse(ops.asOf));
  const from = new Date(to.getTime() - 30 * 86400 * 1000);
  try {
    const summary = (await gql(PAYOUTS, { from: from.toISOString(), to: to.toISOString() })).reconciliationSummary;
    bars("c-payouts", summary.payouts.map((p) => ({ key: p.status, count: p.count })));
    numbers("n-payouts", summary.payouts.map((p) => [p.status, p.count,
      `${p.amount.amount} ${p.amount.currency}`, `${p.variance.amount} ${p.variance.currency}`]));
    const waits = summary.arrivalToReconciliation;
    figureList("c-arrival", [
      ["Reconciled payouts", waits.count],
      ["Median arrival to reconciliation", duration(waits.p50Seconds)],
      ["90th percentile", duration(waits.p90Seconds)],
      ["Longest", duration(waits.maxSeconds)],
    ]);
    numbers("n-arrival", [[waits.count, waits.p50Seconds, waits.p90Seconds, waits.maxSeconds]]);
  } catch (error) {
    $("c-payouts").textContent = (error.codes || []).includes("FORBIDDEN")
      ? "This key's roles may not see payouts (finance or reporting may)."
      : `Payouts could not be read: ${error.message}`;
  }
}

// ---- system map ----------------------------------------------------------------------

const DISAGREEING = `query ConsoleMap($after: String) {
  currentDisagreements(first: 100, after: $after) {
    edges { node { orderSource orderRef field lastSeenAt
      authoritative { source } others { source }
      order { name exceptions { id kind status ownerSource details } } } }
    pageInfo { hasNextPage endCursor }
  }
}`;
const OWNERS = "query ConsoleOwners { exceptionOperations { openByOwner { key count } } }";

// A canonical field: a line's fields counted together (lines[SKU-1].unitPrice -> lines.unitPrice).
const canonical = (field) => field.replace(/\[[^\]]*\]/g, "");

// Each cell (owner → other system, canonical field): the orders they disagree about now (as the
// disagreement detector last found them), and the open exceptions raised about those
// disagreements (an exception about an order and a field).
async function loadMap() {
  $("q-map").textContent = `${DISAGREEING}\n\n${OWNERS}`;
  const cells = new Map(); // "owner → other|field" -> { orders: Map(name -> case), exceptions: Set }
  let after = null;
  let truncated = false;
  let checked = "";
  try {
    for (let page = 0; ; page += 1) {
      const data = (await gql(DISAGREEING, { after })).currentDisagreements;
      for (const { node: d } of data.edges) {
        const field = canonical(d.field);
        const exceptions = d.order ? d.order.exceptions : [];
        const about = exceptions.filter(
          (x) => x.status !== "RESOLVED" && x.details && x.details.field === d.field);
        const name = (d.order && d.order.name) || d.orderRef;
        if (d.lastSeenAt > checked) checked = d.lastSeenAt;
        for (const other of d.others) {
          const key = `${d.authoritative.source} → ${other.source}|${field}`;
          if (!cells.has(key)) cells.set(key, { orders: new Map(), exceptions: new Set() });
          const entry = cells.get(key);
          entry.orders.set(name, { name, source: d.orderSource, ref: d.orderRef, field: d.field, exceptions: about });
          for (const x of about) entry.exceptions.add(x.id);
        }
      }
      if (!data.pageInfo.hasNextPage) break;
      if (page >= 9) {
        truncated = true;
        break;
      }
      after = data.pageInfo.endCursor;
    }
    bars("owners", (await gql(OWNERS)).exceptionOperations.openByOwner);
  } catch (error) {
    say(`The map could not be read: ${error.message}`);
    return;
  }
  const pairs = [...new Set([...cells.keys()].map((k) => k.split("|")[0]))].sort();
  const fields = [...new Set([...cells.keys()].map((k) => k.split("|")[1]))].sort();
  crossTable("#map", "Owner → other system", pairs, fields, (row, pair, field) => {
    const entry = cells.get(`${pair}|${field}`);
    const td = document.createElement("td");
    if (entry) {
      td.className = "hot";
      const open = document.createElement("button");
      open.type = "button";
      open.dataset.pair = pair;
      open.dataset.field = field;
      open.dataset.disagreements = String(entry.orders.size);
      open.dataset.exceptions = String(entry.exceptions.size);
      open.textContent = `${entry.orders.size} · ${entry.exceptions.size} open`;
      open.setAttribute("aria-label",
        `${pair}, ${field}: ${entry.orders.size} orders disagree, ${entry.exceptions.size} open exceptions`);
      open.addEventListener("click", () => showCases(pair, field, entry));
      td.appendChild(open);
    }
    row.appendChild(td);
  });
  const total = [...cells.values()].reduce((n, e) => n + e.orders.size, 0);
  const seen = checked ? ` As the disagreement detector last found them (latest check ${checked}).` : "";
  $("map-note").textContent = truncated
    ? `Only the first 1,000 disagreements are counted.${seen}`
    : `${total} disagreements in all. Each cell: orders the two systems disagree about · open exceptions raised about them.${seen}`;
}

function showCases(pair, field, entry) {
  $("cases").hidden = false;
  $("cases-title").textContent = `${pair}: ${field}`;
  const list = $("case-list");
  list.replaceChildren();
  for (const { name, source, ref, field: exact, exceptions } of entry.orders.values()) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = `/console/order?source=${encodeURIComponent(source)}&ref=${encodeURIComponent(ref)}`;
    link.textContent = name;
    item.appendChild(link);
    const about = exceptions.map((x) => `${x.kind} (${x.status}, owner ${x.ownerSource})`).join(", ");
    const note = document.createElement("span");
    note.className = "case-note";
    note.textContent = ` ${exact}${about ? `: ${about}` : ": no open exception"}`;
    item.appendChild(note);
    list.appendChild(item);
  }
  list.querySelector("a")?.focus();
}

// ---- start -----------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", async () => {
  const page = document.body.dataset.page;
  const pages = { queue: startQueue, order: startOrder, dashboard: () => loadDashboard, map: () => loadMap };
  const load = pages[page]();
  setUpSignIn(load);
  if (await signIn()) load();
});

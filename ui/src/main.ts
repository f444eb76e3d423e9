import { ApiError, call, credential, remember, type Permissions } from "./api";
import { buildTree, FlameGraph, functionTable, type StackCount } from "./flame";

// The role this runtime plays ("aggregator" for a site, "central"), written into the page by the runtime.
const role = document.querySelector<HTMLMetaElement>('meta[name="aperture-role"]')?.content ?? "aggregator";

interface View {
  path: string;
  title: string;
  roles: string[];
  /** The permission the view needs; a credential without it is not offered the view. */
  needs?: string;
  render: (main: HTMLElement, params: URLSearchParams) => Promise<void> | void;
}

const PermissionsKey = "aperture.permissions";

function permissions(): Permissions | null {
  try {
    return JSON.parse(sessionStorage.getItem(PermissionsKey) ?? "null") as Permissions | null;
  } catch {
    return null;
  }
}

function allowed(view: View): boolean {
  return !view.needs || (permissions()?.permissions.includes(view.needs) ?? false);
}

const views: View[] = [
  { path: "/ui/flame", title: "Flame graph", roles: ["aggregator"], render: flamePage },
  { path: "/ui/diff", title: "Diff", roles: ["aggregator"], render: notYet("The diff view") },
  { path: "/ui/servers", title: "Servers", roles: ["aggregator"], render: serversPage },
  { path: "/ui/alerts", title: "Alerts", roles: ["aggregator"], render: notYet("The alerts view") },
  { path: "/ui/jobs", title: "Jobs", roles: ["aggregator", "central"], render: notYet("The jobs view") },
  { path: "/ui/anomalies", title: "Anomalies", roles: ["central"], render: anomaliesPage },
  { path: "/ui/tenants", title: "Tenants and keys", roles: ["central"], needs: "manage_keys", render: keysPage },
  { path: "/ui/status", title: "Status", roles: ["central"], render: statusPage },
];

function element<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function notYet(what: string): View["render"] {
  return (main) => {
    main.append(element("p", { className: "notice" }, `${what} is not built yet: its API is there (see the README), the page comes in a later release.`));
  };
}

function failure(main: HTMLElement, e: unknown): void {
  const words = e instanceof ApiError ? e.message : `Something went wrong: ${String(e)}`;
  main.append(element("p", { className: "error", role: "alert" }, words));
}

function navigate(path: string): void {
  history.pushState(null, "", path);
  void route();
}

async function route(): Promise<void> {
  const main = document.getElementById("main")!;
  main.replaceChildren();
  if (!credential()) {
    renderNav([]);
    signIn(main);
    return;
  }
  if (!permissions()) {
    try {
      sessionStorage.setItem(PermissionsKey, JSON.stringify(await call<Permissions>("GET", "/api/v1/rbac/permissions")));
    } catch (e) {
      failure(main, e);
      return;
    }
  }
  const ofRole = views.filter((v) => v.roles.includes(role));
  const offered = ofRole.filter(allowed);
  renderNav(offered);
  const url = new URL(location.href);
  const refused = ofRole.find((v) => v.path === url.pathname && !allowed(v));
  if (refused) {
    main.append(element("h1", {}, refused.title), element("p", { className: "error", role: "alert" },
      `This credential (${permissions()?.role ?? "unknown role"} of tenant ${permissions()?.tenant_id ?? "?"}) may not use this view: it needs the ${refused.needs} permission.`));
    return;
  }
  const view = offered.find((v) => v.path === url.pathname) ?? offered[0]!;
  if (view.path !== url.pathname) {
    history.replaceState(null, "", view.path + url.search);
  }
  document.title = `${view.title} · Aperture`;
  main.append(element("h1", {}, view.title));
  try {
    await view.render(main, url.searchParams);
  } catch (e) {
    failure(main, e);
  }
}

function renderNav(offered: View[]): void {
  const nav = document.getElementById("nav")!;
  nav.replaceChildren(...offered.map((v) => {
    const link = element("a", { href: v.path, textContent: v.title });
    if (location.pathname === v.path) {
      link.setAttribute("aria-current", "page");
    }
    link.addEventListener("click", (e) => {
      e.preventDefault();
      navigate(v.path);
    });
    return link;
  }));
  const who = document.getElementById("who")!;
  who.replaceChildren();
  if (credential()) {
    const out = element("button", { type: "button", textContent: "Sign out" });
    out.addEventListener("click", () => {
      remember(null);
      sessionStorage.removeItem(PermissionsKey);
      void route();
    });
    who.append(out);
  }
}

function signIn(main: HTMLElement): void {
  main.append(element("h1", {}, "Sign in"));
  const secret = element("input", { id: "secret", type: "password", autocomplete: "off", required: true });
  const kind = element("select", { id: "kind" },
    element("option", { value: "bearer", textContent: "Token (admin token or JWT)" }),
    element("option", { value: "api-key", textContent: "API key" }));
  const message = element("p", { role: "status" });
  const form = element("form", { className: "sign-in" },
    element("label", { htmlFor: "kind", textContent: "Credential" }), kind,
    element("label", { htmlFor: "secret", textContent: "Paste it once; it is kept for this tab only" }), secret,
    element("button", { type: "submit", textContent: "Sign in" }), message);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    remember({ kind: kind.value as "bearer" | "api-key", secret: secret.value.trim() });
    try {
      const me = await call<Permissions>("GET", "/api/v1/rbac/permissions");
      sessionStorage.setItem(PermissionsKey, JSON.stringify(me));
      message.textContent = `Signed in to tenant ${me.tenant_id} as ${me.role}.`;
      await route();
    } catch (err) {
      remember(null);
      message.textContent = err instanceof ApiError ? err.message : String(err);
      message.className = "error";
    }
  });
  main.append(form);
  secret.focus();
}

interface Profile {
  total_samples: number;
  sample_period_ns: number;
  stacks: StackCount[];
}

interface Aggregate {
  cpu: Profile;
  lock: Profile;
  syscall: Profile;
  total_events: number;
  source: string;
}

function formatter(type: string, periodNs: number): (weight: number) => string {
  if (type === "cpu") {
    return (w) => (periodNs > 0 ? `${w} samples (${((w * periodNs) / 1e9).toFixed(2)} s)` : `${w} samples`);
  }
  return (w) => (w >= 1e9 ? `${(w / 1e9).toFixed(2)} s` : w >= 1e6 ? `${(w / 1e6).toFixed(2)} ms` : `${(w / 1e3).toFixed(1)} µs`);
}

async function flamePage(main: HTMLElement, params: URLSearchParams): Promise<void> {
  const type = params.get("type") ?? "cpu";
  const agent = params.get("agent") ?? "";
  const target = params.get("target") ?? "";
  const minutes = Number(params.get("minutes") ?? "60");
  const picks = element("form", { className: "picks" });
  const typePick = element("select", { id: "type" }, ...["cpu", "lock", "syscall"].map((t) => element("option", { value: t, textContent: t, selected: t === type })));
  const agentPick = element("input", { id: "agent", value: agent, placeholder: "every agent" });
  const targetPick = element("input", { id: "target", value: target, placeholder: "every service" });
  const rangePick = element("select", { id: "minutes" }, ...[15, 60, 360, 1440].map((m) => element("option", { value: String(m), textContent: m < 60 ? `${m} min` : `${m / 60} h`, selected: m === minutes })));
  picks.append(
    element("label", { htmlFor: "type", textContent: "Event type" }), typePick,
    element("label", { htmlFor: "agent", textContent: "Agent" }), agentPick,
    element("label", { htmlFor: "target", textContent: "Service" }), targetPick,
    element("label", { htmlFor: "minutes", textContent: "Last" }), rangePick,
    element("button", { type: "submit", textContent: "Show" }));
  picks.addEventListener("submit", (e) => {
    e.preventDefault();
    const next = new URLSearchParams({ type: typePick.value, minutes: rangePick.value });
    if (agentPick.value) next.set("agent", agentPick.value);
    if (targetPick.value) next.set("target", targetPick.value);
    navigate(`/ui/flame?${next}`);
  });
  main.append(picks);
  const status = element("p", { role: "status", textContent: "Loading the profile…" });
  main.append(status);

  const endNs = Date.now() * 1e6;
  const aggregate = await call<Aggregate>("POST", "/api/aggregate", {
    event_type: type,
    agent_id: agent || undefined,
    target: target || undefined,
    time_start_ns: endNs - minutes * 60e9,
    time_end_ns: endNs,
  });
  const profile = aggregate[type as "cpu" | "lock" | "syscall"];
  const root = buildTree(profile.stacks, type !== "cpu");
  if (root.total === 0) {
    status.textContent = `No ${type} events in the last ${minutes} minutes${agent ? ` from ${agent}` : ""}.`;
    return;
  }
  const format = formatter(type, profile.sample_period_ns);
  status.textContent = `${format(root.total)} over ${profile.stacks.length} stacks (${aggregate.source}).`;

  const search = element("input", { id: "search", type: "search", placeholder: "function name" });
  const share = element("span", { id: "search-share", role: "status" });
  const layout = element("button", { type: "button", textContent: "Flame layout" });
  const reset = element("button", { type: "button", textContent: "Reset zoom" });
  const crumbs = element("nav", { className: "crumbs", ariaLabel: "Zoom path" });
  main.append(element("div", { className: "toolbar" }, element("label", { htmlFor: "search", textContent: "Search" }), search, share, layout, reset), crumbs);
  const canvas = element("canvas", { id: "flame", className: "flame", role: "img", ariaLabel: `${type} flame graph` });
  const tooltip = element("div", { className: "tooltip", hidden: true });
  main.append(canvas, tooltip);
  const graph = new FlameGraph(canvas, tooltip, format);
  graph.onZoom = (node) => {
    crumbs.replaceChildren(...node.path().map((n) => {
      const b = element("button", { type: "button", textContent: n.name });
      b.addEventListener("click", () => graph.zoom(n));
      return b;
    }));
  };
  graph.show(root);
  graph.onZoom(root);
  search.addEventListener("input", () => {
    const matched = graph.search(search.value);
    share.textContent = search.value ? `${(matched * 100).toFixed(1)} % of the profile matches` : "";
  });
  layout.addEventListener("click", () => {
    graph.layout = graph.layout === "icicle" ? "flame" : "icicle";
    layout.textContent = graph.layout === "icicle" ? "Flame layout" : "Icicle layout";
    graph.draw();
  });
  reset.addEventListener("click", () => graph.zoom(root));

  const table = element("table", { id: "functions" },
    element("caption", {}, "Functions by self"),
    element("thead", {}, element("tr", {}, element("th", { scope: "col" }, "Function"), element("th", { scope: "col" }, "Self"), element("th", { scope: "col" }, "Total"))));
  const body = element("tbody");
  for (const row of functionTable(root).slice(0, 50)) {
    const pct = (w: number) => `${((w / root.total) * 100).toFixed(1)} %`;
    body.append(element("tr", {}, element("td", {}, row.name), element("td", {}, pct(row.self)), element("td", {}, pct(row.total))));
  }
  table.append(body);
  main.append(table);
}

interface Server {
  id: number;
  slug: string;
  name: string;
  hostname: string;
  snapshot_count: number;
  latest_snapshot_at: string | null;
}

interface Snapshot {
  collected_at: string;
  cpu: { usage_percent: number | null };
  memory: { percent: number | null };
  disk: { util_percent: number | null };
  gpu: { present: boolean; count: number; top_util_percent: number | null };
  bottleneck: { label: string; title: string; confidence: number; reason: string } | null;
}

const percent = (v: number | null | undefined): string => (v === null || v === undefined ? "–" : `${v.toFixed(1)} %`);

async function serversPage(main: HTMLElement): Promise<void> {
  const { servers } = await call<{ servers: Server[] }>("GET", "/api/servers/");
  if (servers.length === 0) {
    main.append(element("p", { className: "notice" }, "No monitored servers are registered and active (PUT /api/admin/servers/<slug>, or a MonitoredServer resource)."));
    return;
  }
  const shown = servers.slice(0, 50);
  const latest = await Promise.all(shown.map(async (s) => {
    try {
      return (await call<{ snapshot: Snapshot }>("GET", `/api/metrics/latest/?server=${encodeURIComponent(s.slug)}`)).snapshot;
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        return null;
      }
      throw e;
    }
  }));
  const table = element("table", { id: "servers" }, element("thead", {}, element("tr", {},
    ...["Server", "CPU", "Memory", "Disk", "GPU", "Bottleneck", "Why", "Last snapshot"].map((h) => element("th", { scope: "col" }, h)))));
  const body = element("tbody");
  shown.forEach((s, i) => {
    const snap = latest[i];
    body.append(element("tr", {}, element("td", {}, `${s.name} (${s.slug})`), element("td", {}, percent(snap?.cpu.usage_percent)),
      element("td", {}, percent(snap?.memory.percent)), element("td", {}, percent(snap?.disk.util_percent)),
      element("td", {}, snap?.gpu.present ? `${percent(snap.gpu.top_util_percent)} of ${snap.gpu.count}` : "none"),
      element("td", {}, snap?.bottleneck?.label ?? "no snapshot yet"), element("td", {}, snap?.bottleneck?.reason ?? ""),
      element("td", {}, snap ? new Date(snap.collected_at).toLocaleString() : "–")));
  });
  table.append(body);
  main.append(table);
  if (servers.length > shown.length) {
    main.append(element("p", { className: "notice" }, `The first ${shown.length} of ${servers.length} servers.`));
  }
}

interface Cause {
  service_id: string;
  metric_name: string;
  score: number;
  lag_minutes: number;
  evidence: string[];
}

interface Anomaly {
  anomaly_id: string;
  service_id: string;
  metric_name: string;
  anomaly_score: number;
  z_score: number;
  value: number | null;
  expected: number | null;
  detected_at: string;
  resolved: boolean;
  rca_triggered: boolean;
  causes?: Cause[];
  similar_incidents?: { incident_id: string; resolution: string; score: number }[];
}

async function anomaliesPage(main: HTMLElement, params: URLSearchParams): Promise<void> {
  const id = params.get("id");
  if (id) {
    const a = await call<Anomaly>("GET", `/api/v1/anomalies/${encodeURIComponent(id)}`);
    main.append(element("p", {}, `${a.service_id} · ${a.metric_name} · detected ${new Date(a.detected_at).toLocaleString()} · score ${a.anomaly_score.toFixed(2)} (z ${a.z_score.toFixed(1)}) ${a.value === null ? "" : ` · value ${a.value.toFixed(2)}`}${a.expected === null ? "" : `, expected ${a.expected.toFixed(2)}`} · ${a.resolved ? "resolved" : "open"}`));
    main.append(element("h2", {}, "Root-cause candidates"));
    if (!a.causes) {
      main.append(element("p", { className: "notice" }, a.rca_triggered ? "The root-cause analysis is running; reload in a moment." : "No root-cause analysis was run for this anomaly."));
    } else {
      const list = element("ol", { id: "causes" });
      for (const c of a.causes) {
        list.append(element("li", {}, element("strong", {}, `${c.service_id} · ${c.metric_name}`), ` score ${c.score.toFixed(2)}, lag ${c.lag_minutes} min`,
          element("ul", {}, ...c.evidence.map((e) => element("li", {}, e)))));
      }
      main.append(list);
    }
    if (a.similar_incidents?.length) {
      main.append(element("h2", {}, "Similar past incidents"), element("ul", {}, ...a.similar_incidents.map((s) => element("li", {}, `${s.incident_id} (${s.score.toFixed(2)}): ${s.resolution}`))));
    }
    return;
  }
  const service = element("input", { id: "service", value: params.get("service_id") ?? "", placeholder: "every service" });
  const minScore = element("input", { id: "min-score", type: "number", min: "0", max: "1", step: "0.05", value: params.get("min_score") ?? "" });
  const form = element("form", { className: "picks" }, element("label", { htmlFor: "service", textContent: "Service" }), service,
    element("label", { htmlFor: "min-score", textContent: "Minimum score" }), minScore, element("button", { type: "submit", textContent: "Filter" }));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const next = new URLSearchParams();
    if (service.value) next.set("service_id", service.value);
    if (minScore.value) next.set("min_score", minScore.value);
    navigate(`/ui/anomalies?${next}`);
  });
  main.append(form);
  const query = new URLSearchParams({ limit: "100" });
  for (const key of ["service_id", "min_score"]) {
    const value = params.get(key);
    if (value) query.set(key, value);
  }
  const page = await call<{ anomalies: Anomaly[]; total: number }>("GET", `/api/v1/anomalies?${query}`);
  main.append(element("p", { role: "status" }, `${page.total} anomalies${page.total > page.anomalies.length ? `, the newest ${page.anomalies.length} shown` : ""}.`));
  const table = element("table", { id: "anomalies" }, element("thead", {}, element("tr", {}, ...["Detected", "Service", "Metric", "Score", "State"].map((h) => element("th", { scope: "col" }, h)))));
  const body = element("tbody");
  for (const a of page.anomalies) {
    const link = element("a", { href: `/ui/anomalies?id=${encodeURIComponent(a.anomaly_id)}`, textContent: new Date(a.detected_at).toLocaleString() });
    link.addEventListener("click", (e) => {
      e.preventDefault();
      navigate(link.getAttribute("href")!);
    });
    body.append(element("tr", {}, element("td", {}, link), element("td", {}, a.service_id), element("td", {}, a.metric_name),
      element("td", {}, a.anomaly_score.toFixed(2)), element("td", {}, a.resolved ? "resolved" : "open")));
  }
  table.append(body);
  main.append(table);
}

interface ApiKey {
  key_id: string;
  name: string;
  scope: string;
  prefix: string;
  created_at: string;
  expires_at: string | null;
  revoked: boolean;
}

async function keysPage(main: HTMLElement): Promise<void> {
  const me = permissions();
  if (me?.permissions.includes("manage_tenants")) {
    await tenantsSection(main);
  }
  main.append(element("h2", {}, `API keys of tenant ${me?.tenant_id ?? ""}`));
  const name = element("input", { id: "key-name", required: true, placeholder: "Production ingestion" });
  const scope = element("select", { id: "key-scope" }, ...["ingestion", "read", "admin"].map((s) => element("option", { value: s, textContent: s })));
  const made = element("div", { id: "made", role: "status" });
  const form = element("form", { className: "picks" },
    element("label", { htmlFor: "key-name", textContent: "Name" }), name,
    element("label", { htmlFor: "key-scope", textContent: "Scope" }), scope,
    element("button", { type: "submit", textContent: "Create key" }));
  const table = element("table", { id: "keys" });
  main.append(form, made, table);
  const list = async (): Promise<void> => {
    const { api_keys } = await call<{ api_keys: ApiKey[] }>("GET", "/api/v1/apikeys");
    table.replaceChildren(element("thead", {}, element("tr", {}, ...["Name", "Prefix", "Scope", "Created", "State", ""].map((h) => element("th", { scope: "col" }, h)))));
    const body = element("tbody");
    for (const key of api_keys) {
      const action = element("td");
      if (!key.revoked) {
        const revoke = element("button", { type: "button", textContent: `Revoke ${key.name}` });
        revoke.addEventListener("click", async () => {
          if (!confirm(`Revoke the key ${key.name} (${key.prefix}…)? Whatever uses it stops working.`)) {
            return;
          }
          try {
            await call("DELETE", `/api/v1/apikeys/${encodeURIComponent(key.key_id)}`);
            await list();
          } catch (e) {
            failure(main, e);
          }
        });
        action.append(revoke);
      }
      body.append(element("tr", {}, element("td", {}, key.name), element("td", {}, `${key.prefix}…`), element("td", {}, key.scope),
        element("td", {}, new Date(key.created_at).toLocaleString()), element("td", {}, key.revoked ? "revoked" : "active"), action));
    }
    table.append(body);
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const key = await call<{ api_key: string; key_id: string }>("POST", "/api/v1/apikeys", { name: name.value, scope: scope.value });
      const copy = element("button", { type: "button", textContent: "Copy" });
      copy.addEventListener("click", () => void navigator.clipboard?.writeText(key.api_key));
      made.replaceChildren(element("p", {}, "The new key, shown this once: "), element("code", { id: "new-key" }, key.api_key), copy);
      name.value = "";
      await list();
    } catch (err) {
      made.replaceChildren(element("p", { className: "error", role: "alert" }, err instanceof ApiError ? err.message : String(err)));
    }
  });
  await list();
}

async function tenantsSection(main: HTMLElement): Promise<void> {
  main.append(element("h2", {}, "Tenants"));
  const id = element("input", { id: "tenant-id", required: true, placeholder: "acme-corp" });
  const tenantName = element("input", { id: "tenant-name", required: true, placeholder: "Acme Corporation" });
  const made = element("p", { role: "status" });
  const form = element("form", { className: "picks" }, element("label", { htmlFor: "tenant-id", textContent: "Tenant id" }), id,
    element("label", { htmlFor: "tenant-name", textContent: "Name" }), tenantName,
    element("button", { type: "submit", textContent: "Create tenant" }), made);
  const list = element("ul", { id: "tenants" });
  main.append(form, list);
  const refresh = async (): Promise<void> => {
    const { tenants } = await call<{ tenants: { tenant_id: string; events_this_month?: number }[] }>("GET", "/api/v1/tenants");
    list.replaceChildren(...tenants.map((t) => element("li", {}, `${t.tenant_id}${t.events_this_month === undefined ? "" : ` · ${t.events_this_month} events this month`}`)));
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await call("POST", "/api/v1/tenants", { tenant_id: id.value.trim(), name: tenantName.value.trim() });
      made.textContent = `Tenant ${id.value.trim()} created.`;
      made.className = "";
      id.value = "";
      tenantName.value = "";
      await refresh();
    } catch (err) {
      made.textContent = err instanceof ApiError ? err.message : String(err);
      made.className = "error";
    }
  });
  await refresh();
}

async function statusPage(main: HTMLElement): Promise<void> {
  const status = await call<{ status: string; components: Record<string, { status: string }> }>("GET", "/api/v1/status");
  const list = element("dl");
  for (const [name, component] of Object.entries(status.components ?? {})) {
    list.append(element("dt", {}, name), element("dd", {}, component.status));
  }
  main.append(element("p", {}, `Overall: ${status.status}`), list);
}

document.getElementById("theme")?.addEventListener("click", () => {
  const dark = document.documentElement.dataset.theme !== "dark";
  document.documentElement.dataset.theme = dark ? "dark" : "light";
  localStorage.setItem("aperture.theme", dark ? "dark" : "light");
});
document.documentElement.dataset.theme = localStorage.getItem("aperture.theme") ?? (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
window.addEventListener("popstate", () => void route());
void route();

// Switchboard operations dashboard: the operator feed of /v1/stream (one frame a second).
"use strict";

const HISTORY = 180; // points kept on the chart (3 minutes)
const COLORS = ["#58a6ff", "#f0883e", "#3fb950", "#bc8cff", "#ff7b72", "#79c0ff"];
const $ = (id) => document.getElementById(id);

let socket = null;
let chart = null;
let chartCarriers = "";
const history = { t: [], rates: {}, limits: {} };

function fmt(value, digits = 0) {
  if (value === null || value === undefined) return "–";
  return Number(value).toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function carrierCard(name) {
  let card = document.querySelector(`.carrier[data-name="${CSS.escape(name)}"]`);
  if (card) return card;
  card = document.createElement("div");
  card.className = "carrier";
  card.dataset.name = name;
  card.innerHTML = `
    <div class="head"><span class="name"></span><span class="badge circuit"></span></div>
    <div><span class="rate">0</span> <span class="of">/s of <b class="mps"></b> MPS</span></div>
    <div class="bar"><div></div></div>
    <dl>
      <dt>paced at</dt><dd class="paced"></dd>
      <dt>throttles</dt><dd class="throttles"></dd>
      <dt>health</dt><dd class="health"></dd>
      <dt>delivery ratio</dt><dd class="delivery"></dd>
      <dt>bucket fill</dt><dd class="fill"></dd>
      <dt>submitted</dt><dd class="submitted"></dd>
    </dl>`;
  card.querySelector(".name").textContent = name;
  $("carriers").appendChild(card);
  return card;
}

function renderCarriers(carriers) {
  for (const c of carriers) {
    const card = carrierCard(c.name);
    const set = (cls, text) => { card.querySelector(cls).textContent = text; };
    set(".rate", fmt(c.rate));
    set(".mps", fmt(c.mps));
    set(".paced", `${fmt(c.paced_rate)}/s`);
    set(".throttles", `${fmt(c.throttled_per_s, 1)}/s · ${fmt(c.throttled)} total`);
    set(".health", fmt(c.health, 2));
    set(".delivery", c.delivery_ratio === null ? "–" : `${fmt(c.delivery_ratio * 100, 1)}%`);
    set(".fill", `${fmt(c.bucket_fill * 100)}%`);
    set(".submitted", fmt(c.submitted));
    const badge = card.querySelector(".circuit");
    badge.textContent = c.circuit.replace("_", "-");
    badge.className = `badge circuit ${c.circuit}`;
    card.querySelector(".bar div").style.width = `${Math.min(100, (100 * c.rate) / Math.max(c.mps, 1))}%`;
  }
}

function renderChart(figures) {
  const names = figures.carriers.map((c) => c.name);
  history.t.push(figures.at);
  for (const c of figures.carriers) {
    (history.rates[c.name] ||= []).push(c.rate);
    (history.limits[c.name] ||= []).push(c.mps);
  }
  if (history.t.length > HISTORY) {
    history.t.shift();
    for (const n of names) { history.rates[n].shift(); history.limits[n].shift(); }
  }
  const pad = (series) => Array(history.t.length - series.length).fill(null).concat(series);
  const data = [history.t];
  for (const n of names) data.push(pad(history.rates[n]), pad(history.limits[n]));
  const key = names.join(",");
  if (!chart || chartCarriers !== key) {
    if (chart) chart.destroy();
    const series = [{}];
    names.forEach((n, i) => {
      const stroke = COLORS[i % COLORS.length];
      series.push({ label: `${n} submits/s`, stroke, width: 2 });
      series.push({ label: `${n} MPS limit`, stroke, width: 1, dash: [6, 4] });
    });
    const width = Math.max(320, $("rate-chart").clientWidth - 16);
    chart = new uPlot({
      width, height: 220, series,
      scales: { y: { range: (_u, _min, max) => [0, Math.max(10, max * 1.1)] } },
      axes: [{ stroke: "#7d8a99", grid: { stroke: "#26303b" } }, { stroke: "#7d8a99", grid: { stroke: "#26303b" } }],
    }, data, $("rate-chart"));
    chartCarriers = key;
  } else {
    chart.setData(data);
  }
}

function renderQueues(queues, backlog) {
  const body = $("queues").querySelector("tbody");
  body.innerHTML = "";
  for (const [queue, depth] of Object.entries(queues)) {
    const row = body.insertRow();
    row.dataset.queue = queue;
    row.insertCell().textContent = queue;
    const cell = row.insertCell();
    cell.className = "n";
    cell.textContent = fmt(depth);
  }
  $("backlog").textContent = backlog < 0 ? "unreadable" : fmt(backlog);
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 60) return `${seconds} s`;
  const m = Math.round(seconds / 60);
  return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

function hhmm(iso) {
  const at = new Date(iso);
  const time = at.toLocaleTimeString("en", { hour: "2-digit", minute: "2-digit" });
  return at.toDateString() === new Date().toDateString()
    ? time : `${at.toLocaleDateString("en", { month: "short", day: "numeric" })} ${time}`;
}

function renderCampaigns(frame) {
  const body = $("campaigns").querySelector("tbody");
  body.innerHTML = "";
  $("no-campaigns").hidden = frame.campaigns.length > 0;
  for (const c of frame.campaigns) {
    const row = body.insertRow();
    row.className = "campaign";
    row.dataset.id = c.id;
    row.dataset.state = c.state;
    const cell = (text, cls = "") => {
      const td = row.insertCell();
      td.textContent = text;
      if (cls) td.className = cls;
      return td;
    };
    cell(c.name, "name");
    const state = cell("");
    const badge = document.createElement("span");
    badge.className = `badge ${c.state}`;
    badge.textContent = c.state;
    state.appendChild(badge);
    const bar = cell("");
    const stack = document.createElement("div");
    stack.className = "stack";
    const total = Math.max(c.total, 1);
    // done = delivered + failed + skipped + sent awaiting a receipt
    const awaiting = c.total - c.remaining - c.delivered - c.failed - c.skipped;
    const parts = [["delivered", c.delivered], ["pending", awaiting], ["failed", c.failed], ["skipped", c.skipped]];
    for (const [cls, n] of parts) {
      const seg = document.createElement("div");
      seg.className = cls;
      seg.style.width = `${(100 * Math.max(n, 0)) / total}%`;
      stack.appendChild(seg);
    }
    bar.appendChild(stack);
    cell(fmt(c.sent), "n sent");
    cell(fmt(c.delivered), "n delivered");
    cell(fmt(c.failed), "n failed");
    cell(fmt(c.skipped), "n skipped");
    cell(fmt(c.total), "n total");
    cell(`${fmt(c.rate, 1)} / ${c.max_rate === null ? "–" : fmt(c.max_rate)}`, "n rate");
    cell(c.state === "scheduled" ? `starts ${hhmm(c.start_at)}` : duration(c.eta_seconds), "n eta");
    const held = c.held > 0
      ? `${fmt(c.held)} held (${c.held_zones} zone${c.held_zones === 1 ? "" : "s"})` +
        (c.held_until ? ` until ${hhmm(c.held_until)}` : "")
      : (c.send_window ? `open (${c.send_window})` : "–");
    cell(held, c.held > 0 ? "hold held" : "hold");
  }
}

function render(figures) {
  if (figures.type === "campaigns") { renderCampaigns(figures); return; }
  if (figures.type !== "figures") return;
  renderCarriers(figures.carriers);
  renderChart(figures);
  renderQueues(figures.queues, figures.backlog);
  $("otp-p99").textContent = fmt(figures.otp_p99_ms, 1);
  $("updated").textContent = new Date(figures.at * 1000).toLocaleTimeString();
  $("window").textContent = fmt(figures.window_s);
}

function setState(text, cls) {
  const el = $("connection");
  el.textContent = text;
  el.className = `state ${cls}`;
}

function connect(key) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  let opened = false;
  socket = new WebSocket(`${scheme}//${location.host}/v1/stream?feed=operator`, ["switchboard", key]);
  socket.onopen = () => {
    opened = true;
    setState("live", "live");
    $("login").hidden = true;
    $("board").hidden = false;
  };
  socket.onmessage = (event) => render(JSON.parse(event.data));
  socket.onclose = () => {
    if (!opened) {
      sessionStorage.removeItem("switchboard-admin-key");
      $("login").hidden = false;
      $("board").hidden = true;
      $("login-error").hidden = false;
      $("login-error").textContent = "Refused: is it an admin API key?";
      setState("not connected", "idle");
      return;
    }
    setState("reconnecting…", "down");
    setTimeout(() => connect(key), 2000);
  };
}

$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = $("key").value.trim();
  if (!key) return;
  sessionStorage.setItem("switchboard-admin-key", key);
  $("login-error").hidden = true;
  connect(key);
});

$("logout").addEventListener("click", (event) => {
  event.preventDefault();
  sessionStorage.removeItem("switchboard-admin-key");
  location.reload();
});

const saved = sessionStorage.getItem("switchboard-admin-key");
if (saved) connect(saved);

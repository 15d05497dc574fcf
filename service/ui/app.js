// gongkai review UI: plain JS, no build step. The token is kept in sessionStorage (this tab only) and sent as a
// Bearer header (never in a URL, so it never reaches an access log).
"use strict";

const STATUS = { queued: "排队中", processing: "处理中", review: "待审核", verified: "已核验", failed: "失败" };
const $ = (sel, el = document) => el.querySelector(sel);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const token = () => sessionStorage.getItem("gk_token") || "";

async function api(path, opts = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + token() }, opts.headers || {});
  if (opts.json !== undefined) { headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(opts.json); }
  const r = await fetch(path, Object.assign({}, opts, { headers }));
  if (r.status === 401) { sessionStorage.removeItem("gk_token"); route(); throw new Error("未登录"); }
  if (!r.ok) {
    let msg = r.status + "";
    try { const b = await r.json(); msg = (b.error && b.error.message) || msg; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return r;
}
const getJSON = async (path) => (await api(path)).json();
async function blobURL(path) { return URL.createObjectURL(await (await api(path)).blob()); }

function toast(msg) {
  const t = $("#toast"); t.textContent = msg; t.classList.add("show");
  clearTimeout(toast.timer); toast.timer = setTimeout(() => t.classList.remove("show"), 1800);
}

// ---------------------------------------------------------------- login
function renderLogin(error) {
  $("#who").textContent = ""; $("#logout").hidden = true;
  $("#app").innerHTML = `<form class="login" id="login">
    <h2>登录</h2><p>请输入 API 令牌（由管理员通过 <code>gongkai tokens create</code> 创建）。</p>
    <input id="token" type="password" autocomplete="off" placeholder="gk_…" autofocus>
    <button type="submit" id="login-btn">登录</button>
    <p class="error">${esc(error || "")}</p></form>`;
  $("#login").onsubmit = async (e) => {
    e.preventDefault();
    sessionStorage.setItem("gk_token", $("#token").value.trim());
    try { await getJSON("/v1/me"); goHome(); } catch (err) { renderLogin("令牌无效：" + err.message); }
  };
}

// ---------------------------------------------------------------- document list
let GEN = 0; // bumped by every navigation: a render whose data arrives late must not paint over the new view

async function renderList() {
  const gen = GEN;
  const data = await getJSON("/v1/documents?limit=500");
  if (gen !== GEN) return;
  const rows = data.items.map((d) => `<tr data-id="${d.id}">
      <td class="num">${d.id}</td><td><a href="#/doc/${d.id}">${esc(d.filename)}</a></td>
      <td>${esc(d.agency || "")}</td><td>${esc(d.year || "")}</td>
      <td class="status-${d.status}">${STATUS[d.status] || d.status}${d.status === "processing" && d.job ? ` ${d.job.pages_done}/${d.job.pages_total || "?"}` : ""}${d.error_code ? "（" + esc(d.error_code) + "）" : ""}</td>
      <td class="num open">${d.open_reviews}</td><td class="num failed">${d.failed_rules}</td>
      <td>${esc(d.model_version || "")}</td></tr>`).join("");
  // A refresh (every 2 s while documents are processed) repaints only the table and the count:
  // the upload form is kept, so files a person is choosing are not lost.
  if (!$("#doclist")) {
    $("#app").innerHTML = `<h2 id="list-title"></h2>
      <form id="upload"><input type="file" id="files" multiple> <button type="submit">上传</button></form><p></p>
      <table class="doclist" id="doclist"><thead><tr><th>编号</th><th>文件</th><th>机关</th><th>年度</th><th>状态</th>
      <th>待审单元格</th><th>未通过规则</th><th>模型</th></tr></thead><tbody></tbody></table>`;
    $("#upload").onsubmit = async (e) => {
      e.preventDefault();
      const fd = new FormData();
      for (const f of $("#files").files) fd.append("files", f);
      try {
        const r = await (await api("/v1/documents", { method: "POST", body: fd })).json();
        toast("已上传 " + r.items.filter((i) => !i.error).length + " 个文件");
        $("#upload").reset(); renderList();
      } catch (err) { toast("上传失败：" + err.message); }
    };
  }
  $("#list-title").textContent = `报告列表（${data.total}）`;
  $("#doclist tbody").innerHTML = rows;
  if (data.items.some((d) => d.status === "queued" || d.status === "processing")) {
    clearTimeout(renderList.timer);
    renderList.timer = setTimeout(() => { if (location.hash === "#/" || location.hash === "") renderList(); }, 2000);
  }
}

// ---------------------------------------------------------------- document view
const S = { doc: null, result: null, labels: null, pages: [], page: 1, queue: [], current: null, imgURL: {} };

async function renderDoc(id) {
  const gen = GEN;
  const doc = await getJSON(`/v1/documents/${id}`);
  if (gen !== GEN) return;
  S.doc = doc;
  if (doc.status === "queued" || doc.status === "processing" || doc.status === "failed") {
    $("#app").innerHTML = `<h2>${esc(doc.filename)}</h2><p>状态：${STATUS[doc.status]} ${doc.job ? doc.job.pages_done + "/" + (doc.job.pages_total || "?") + " 页" : ""} ${esc(doc.error_message || "")}</p>`;
    if (doc.status !== "failed") setTimeout(() => { if (location.hash === "#/doc/" + id) renderDoc(id); }, 1500);
    return;
  }
  const [result, labels, pages] = await Promise.all([
    getJSON(`/v1/documents/${id}/result`), getJSON(`/v1/documents/${id}/labels`), getJSON(`/v1/documents/${id}/pages`)]);
  if (gen !== GEN) return;
  Object.assign(S, { result, labels, pages, queue: result.review.slice() });
  if (!S.current || !(S.current in result.cells)) S.current = S.queue[0] || Object.keys(result.cells)[0];
  S.page = result.cells[S.current].page || (pages[0] && pages[0].number) || 1;
  $("#app").innerHTML = `<h2>${esc(doc.filename)} <small>${esc(result.report.agency || "")} ${esc(result.report.year || "")}年 ·
      格式 ${esc(result.report.format)} · <span id="docstatus" class="status-${doc.status}">${STATUS[doc.status]}</span>
      · 待审 <span id="opencount">${S.queue.length}</span></small></h2>
    <div class="layout"><div>
      <div class="pager" id="pager"></div>
      <div class="pagebox" id="pagebox"><p>${pages.length ? "" : "此文件为文本，无页面图像。"}</p></div>
    </div><div>
      <div class="panel" id="panel"></div>
      <button id="bulk" type="button">批量接受通过全部规则的单元格</button>
      <div class="tables" id="tables"></div>
    </div></div>`;
  $("#bulk").onclick = bulkAccept;
  drawTables(); await drawPage(); drawPanel();
}

function cellClass(cid) {
  const c = S.result.cells[cid];
  const k = [];
  if (c.flags.includes("failed_rule")) k.push("failing");
  if (c.review) k.push("risky");
  if (c.flags.includes("reviewed")) k.push("done");
  if (c.flags.includes("corrected")) k.push("corrected");
  if (cid === S.current) k.push("current");
  return k.join(" ");
}

function drawTables() {
  const byTable = new Map();
  for (const [cid, lab] of Object.entries(S.labels)) {
    if (!byTable.has(lab.table)) byTable.set(lab.table, new Map());
    const rows = byTable.get(lab.table);
    if (!rows.has(lab.row)) rows.set(lab.row, []);
    rows.get(lab.row).push([cid, lab.column]);
  }
  let html = "";
  for (const [title, rows] of byTable) {
    const cols = [...rows.values()][0].map((x) => x[1]);
    const uniform = [...rows.values()].every((r) => r.length === cols.length && r.every((x, i) => x[1] === cols[i]));
    html += `<h3>${esc(title)}</h3><table>`;
    if (uniform) html += `<tr><th></th>${cols.map((c) => `<th>${esc(c)}</th>`).join("")}</tr>`;
    for (const [row, cells] of rows) {
      html += `<tr><th>${esc(row)}</th>` + cells.map(([cid, col]) => {
        const v = S.result.cells[cid] ? S.result.cells[cid].value : "";
        return (uniform ? "" : `<td class="cl">${esc(col)}</td>`) + `<td class="v ${cellClass(cid)}" data-cell="${cid}" title="${esc(cid)}">${v === null ? "" : esc(v)}</td>`;
      }).join("") + "</tr>";
    }
    html += "</table>";
  }
  $("#tables").innerHTML = html;
  for (const td of document.querySelectorAll("#tables td.v")) td.onclick = () => select(td.dataset.cell);
}

async function drawPage() {
  if (!S.pages.length) return;
  $("#pager").innerHTML = S.pages.map((p) => `<button type="button" data-page="${p.number}" ${p.number === S.page ? "disabled" : ""}>第 ${p.number} 页</button>`).join("");
  for (const b of document.querySelectorAll("#pager button")) b.onclick = () => { S.page = +b.dataset.page; drawPage(); };
  const key = S.page;
  if (!S.imgURL[key]) S.imgURL[key] = await blobURL(`/v1/documents/${S.doc.id}/pages/${key}/image?width=1000`);
  const box = $("#pagebox");
  box.innerHTML = `<img id="pageimg" alt="第 ${key} 页" src="${S.imgURL[key]}">`;
  const img = $("#pageimg");
  const place = () => {
    const info = S.pages.find((p) => p.number === key);
    if (!info || !info.width) return;
    const f = img.clientWidth / info.width;
    for (const el of box.querySelectorAll(".cellbox")) el.remove();
    for (const [cid, c] of Object.entries(S.result.cells)) {
      if (c.page !== key || !c.bbox) continue;
      const d = document.createElement("div");
      d.className = "cellbox " + cellClass(cid); d.dataset.cell = cid; d.title = cid;
      // at least 10 px wide: a single digit's box would be too thin to click
      const w = Math.max((c.bbox[2] - c.bbox[0]) * f, 10), cx = (c.bbox[0] + c.bbox[2]) / 2 * f;
      Object.assign(d.style, { left: cx - w / 2 + "px", top: c.bbox[1] * f + "px", width: w + "px", height: (c.bbox[3] - c.bbox[1]) * f + "px" });
      d.onclick = () => select(cid);
      box.appendChild(d);
    }
  };
  if (img.complete && img.naturalWidth) place(); else img.onload = place;
}

async function drawPanel() {
  const cid = S.current, c = S.result.cells[cid], lab = S.labels[cid] || {};
  const failing = S.result.checks.filter((k) => !k.passed && k.severity === "error" && k.cells.includes(cid));
  const pos = S.queue.indexOf(cid);
  $("#panel").innerHTML = `<h2 id="cell-id">${esc(cid)}</h2>
    <div class="label">${esc(lab.table)} / ${esc(lab.row)} / ${esc(lab.column)}</div>
    <div id="cropwrap">${c.page && c.bbox ? "" : '<p class="label">此单元格在页面上没有位置（未读出或由规则推出），请对照页面图像核对。</p>'}</div>
    <div>置信度 ${(c.confidence * 100).toFixed(1)}% · ${c.flags.map(esc).join("、") || "无标记"}
      ${pos >= 0 ? ` · 待审第 ${pos + 1}/${S.queue.length} 个` : ""}</div>
    <div class="rules">${failing.map((k) => esc(k.message)).join("<br>")}</div>
    <label>数值 <input id="value" autocomplete="off" value="${c.value === null ? "" : esc(c.value)}"></label>
    <button type="button" id="accept">接受 (Enter)</button>
    <div class="keys">键盘：↓ / PageDown 下一个待审单元格，↑ / PageUp 上一个；输入数值后按 Enter 保存更正，数值未改动时 Enter 即接受。</div>`;
  const input = $("#value");
  input.focus(); input.select();
  input.onkeydown = onKey;
  $("#accept").onclick = submit;
  if (c.page && c.bbox) {
    try {
      const url = await blobURL(`/v1/documents/${S.doc.id}/cells/${encodeURIComponent(cid)}/crop`);
      if (S.current === cid) $("#cropwrap").innerHTML = `<img class="crop" id="crop" alt="单元格截图" src="${url}">`;
    } catch (e) { /* no image for this cell */ }
  }
}

function onKey(e) {
  if (e.key === "Enter") { e.preventDefault(); submit(); }
  else if (e.key === "ArrowDown" || e.key === "PageDown") { e.preventDefault(); step(1); }
  else if (e.key === "ArrowUp" || e.key === "PageUp") { e.preventDefault(); step(-1); }
}

function step(dir) {
  if (!S.queue.length) { toast("没有待审单元格"); return; }
  let i = S.queue.indexOf(S.current);
  i = i < 0 ? (dir > 0 ? 0 : S.queue.length - 1) : (i + dir + S.queue.length) % S.queue.length;
  select(S.queue[i]);
}

function select(cid) {
  S.current = cid;
  const c = S.result.cells[cid];
  const changePage = c.page && c.page !== S.page;
  if (changePage) S.page = c.page;
  drawTables();
  if (changePage) drawPage(); else for (const el of document.querySelectorAll(".cellbox")) el.className = "cellbox " + cellClass(el.dataset.cell);
  drawPanel();
}

async function submit() {
  const cid = S.current, c = S.result.cells[cid];
  const typed = $("#value").value.trim();
  const same = typed === (c.value === null ? "" : String(c.value));
  const base = `/v1/documents/${S.doc.id}/cells/${encodeURIComponent(cid)}`;
  try {
    const out = same
      ? await (await api(base + "/accept", { method: "POST" })).json()
      : await (await api(base + "/correct", { method: "POST", json: { value: typed } })).json();
    toast(same ? "已接受 " + cid : "已更正 " + cid + " → " + typed);
    await refresh(out.next_cell);
  } catch (err) { toast("保存失败：" + err.message); }
}

async function bulkAccept() {
  try {
    const out = await (await api(`/v1/documents/${S.doc.id}/review/bulk-accept`, { method: "POST" })).json();
    toast("批量接受 " + out.accepted + " 个单元格"); await refresh();
  } catch (err) { toast("失败：" + err.message); }
}

async function refresh(next) {
  const id = S.doc.id;
  const [doc, result] = await Promise.all([getJSON(`/v1/documents/${id}`), getJSON(`/v1/documents/${id}/result`)]);
  S.doc = doc; S.result = result; S.queue = result.review.slice();
  $("#docstatus").textContent = STATUS[doc.status]; $("#docstatus").className = "status-" + doc.status;
  $("#opencount").textContent = S.queue.length;
  select(next || S.queue[0] || S.current);
}

// ---------------------------------------------------------------- router
async function route() {
  GEN += 1;
  if (!token()) return renderLogin();
  $("#logout").hidden = false;
  try {
    const me = await getJSON("/v1/me");
    $("#who").textContent = `${me.name}（${{ submitter: "提交者", reviewer: "审核员", admin: "管理员" }[me.role] || me.role}）`;
    const m = location.hash.match(/^#\/doc\/(\d+)/);
    if (m) await renderDoc(+m[1]); else await renderList();
  } catch (err) { if (token()) $("#app").innerHTML = `<p class="error">${esc(err.message)}</p>`; }
}
// Setting a new hash fires hashchange (which routes); routing again here would render twice.
function goHome() { if (location.hash === "#/") route(); else location.hash = "#/"; }
$("#logout").onclick = () => { sessionStorage.removeItem("gk_token"); goHome(); };
window.addEventListener("hashchange", route);
route();

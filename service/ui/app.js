// gongkai review UI: plain JS, no build step. The token is kept in sessionStorage (this tab only) and sent as a
// Bearer header (never in a URL, so it never reaches an access log). Keyboard first: every action
// has a key, every cell of the report is reachable without a mouse.
"use strict";

// document-level flags of a result (extraction.result.ExtractionResult.flags): every cell concerned is in review
const DOC_FLAGS = {
  table_not_found: "未找到表格",
  row_not_read: "行未读出数值",
  row_unverified: "行的数值少于列数，位置无法由规则核对",
  stray_figures: "表中有不在任何行标签后的数字",
  pages_failed: "有页面未能读取",
};
const STATUS = { queued: "排队中", processing: "处理中", review: "待审核", verified: "已核验", failed: "失败" };
const RUN_STATUS = { queued: "排队中", running: "训练中", done: "完成", failed: "失败" };
const STAGE = { exporting: "导出数据", training: "训练", comparing: "与当前模型比较", done: "完成", failed: "失败" };
const VERDICT = { better: "优于当前模型", equal: "与当前模型相同", worse: "不如当前模型", unknown: "比较未完成" };
const ROLE = { submitter: "提交者", reviewer: "审核员", admin: "管理员" };
const $ = (sel, el = document) => el.querySelector(sel);
const $$ = (sel, el = document) => [...el.querySelectorAll(sel)];
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const token = () => sessionStorage.getItem("gk_token") || "";
const pct = (x) => (x === undefined || x === null ? "—" : (x * 100).toFixed(2) + "%");
const secs = (s) => (s === undefined || s === null ? "—" : s >= 60 ? Math.floor(s / 60) + " 分 " + Math.round(s % 60) + " 秒" : Math.round(s) + " 秒");

class ApiFailure extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || String(status));
    Object.assign(this, { status, body, code: e.code, detail: e.detail, message_en: e.message_en });
  }
}

async function api(path, opts = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + token() }, opts.headers || {});
  if (opts.json !== undefined) { headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(opts.json); }
  const r = await fetch(path, Object.assign({}, opts, { headers }));
  if (r.status === 401) { sessionStorage.removeItem("gk_token"); route(); throw new ApiFailure(401, { error: { message: "未登录" } }); }
  if (!r.ok) {
    let body = null;
    try { body = await r.json(); } catch (e) { /* not JSON */ }
    throw new ApiFailure(r.status, body);
  }
  return r;
}
const getJSON = async (path) => (await api(path)).json();
const postJSON = async (path, json) => (await api(path, { method: "POST", json: json === undefined ? {} : json })).json();
async function blobURL(path) { return URL.createObjectURL(await (await api(path)).blob()); }

function toast(msg) {
  const t = $("#toast"); t.textContent = msg; t.classList.add("show");
  clearTimeout(toast.timer); toast.timer = setTimeout(() => t.classList.remove("show"), 2500);
}

// The file name a download is saved under: the server's (RFC 5987 filename*, after the source file).
function dispositionName(r, fallback) {
  const cd = r.headers.get("content-disposition") || "";
  const star = cd.match(/filename\*=UTF-8''([^;\s]+)/i);
  if (star) return decodeURIComponent(star[1]);
  const plain = cd.match(/filename="([^"]+)"/);
  return plain ? plain[1] : fallback;
}
async function download(path, opts, fallback) {
  const r = await api(path, opts || {});
  const a = document.createElement("a");
  a.href = URL.createObjectURL(await r.blob());
  a.download = dispositionName(r, fallback);
  a.id = "last-download"; a.hidden = true;
  $("#last-download")?.remove();
  document.body.appendChild(a); a.click();
  return a.download;
}

// A confirmation in a modal dialog: Enter confirms, Esc cancels (the dialog's own keyboard handling).
function confirmDialog(title, bodyHTML) {
  const dlg = $("#confirm");
  $("#confirm-title").textContent = title;
  $("#confirm-body").innerHTML = bodyHTML;
  return new Promise((resolve) => {
    dlg.onclose = () => resolve(dlg.returnValue === "ok");
    dlg.returnValue = "cancel";
    dlg.showModal();
    $("#confirm-ok").focus();
  });
}

// ---------------------------------------------------------------- login
function renderLogin(error) {
  $("#who").textContent = ""; $("#logout").hidden = true; $("#nav").hidden = true;
  $("#app").innerHTML = `<form class="login" id="login">
    <h2>登录</h2><p>请输入 API 令牌（由管理员通过 <code>gongkai tokens create</code> 创建）。</p>
    <input id="token" type="password" autocomplete="off" placeholder="gk_…" autofocus>
    <button type="submit" id="login-btn">登录</button>
    <p class="error">${esc(error || "")}</p></form>`;
  $("#token").focus();
  $("#login").onsubmit = async (e) => {
    e.preventDefault();
    sessionStorage.setItem("gk_token", $("#token").value.trim());
    try { await getJSON("/v1/me"); goHome(); } catch (err) { renderLogin("令牌无效：" + err.message); }
  };
}

// ---------------------------------------------------------------- document list
let GEN = 0; // bumped by every navigation: a render whose data arrives late must not paint over the new view
let ME = null;

async function renderList() {
  const gen = GEN;
  const data = await getJSON("/v1/documents?limit=500");
  if (gen !== GEN) return;
  const rows = data.items.map((d) => {
    const job = d.job || {};
    const busy = d.status === "processing" || d.status === "queued";
    const progress = busy ? ` <progress max="${job.pages_total || 1}" value="${job.pages_done || 0}"></progress> ${job.pages_done || 0}/${job.pages_total || "?"} 页` : "";
    return `<tr data-id="${d.id}">
      <td class="num">${d.id}</td><td><a href="#/doc/${d.id}">${esc(d.filename)}</a></td>
      <td>${esc(d.agency || "")}</td><td>${esc(d.year || "")}</td>
      <td class="status-${d.status}">${STATUS[d.status] || d.status}${progress}${d.error_code ? "（" + esc(d.error_code) + "：" + esc(d.error_message || "") + "）" : ""}</td>
      <td class="num open">${d.open_reviews}</td><td class="num failed">${d.failed_rules}</td>
      <td>${esc(d.model_version || "")}</td></tr>`;
  }).join("");
  // A refresh (every 2 s while documents are processed) repaints only the table and the count:
  // the upload form is kept, so files a person is choosing are not lost.
  if (!$("#doclist")) {
    $("#app").innerHTML = `<h2 id="list-title"></h2>
      <form id="upload"><label>上传报告 <input type="file" id="files" multiple></label> <button type="submit">上传</button></form>
      <p class="error" id="upload-errors"></p>
      <table class="doclist list" id="doclist"><thead><tr><th>编号</th><th>文件</th><th>机关</th><th>年度</th><th>状态</th>
      <th>待审单元格</th><th>未通过规则</th><th>模型</th></tr></thead><tbody></tbody></table>`;
    $("#upload").onsubmit = async (e) => {
      e.preventDefault();
      const fd = new FormData();
      for (const f of $("#files").files) fd.append("files", f);
      let items = [];
      try {
        items = (await (await api("/v1/documents", { method: "POST", body: fd })).json()).items;
      } catch (err) { items = (err.body && err.body.items) || []; if (!items.length) { toast("上传失败：" + err.message); return; } }
      const bad = items.filter((i) => i.error);
      $("#upload-errors").textContent = bad.map((i) => `${i.filename}：${i.error.message}（${i.error.code}）`).join("；");
      toast("已上传 " + (items.length - bad.length) + " 个文件" + (bad.length ? "，" + bad.length + " 个被拒绝" : ""));
      $("#upload").reset(); renderList();
    };
  }
  $("#list-title").textContent = `报告列表（${data.total}）`;
  $("#doclist tbody").innerHTML = rows;
  if (data.items.some((d) => d.status === "queued" || d.status === "processing")) {
    clearTimeout(renderList.timer);
    renderList.timer = setTimeout(() => { if (location.hash === "#/" || location.hash === "") renderList(); }, 2000);
  }
}

// ---------------------------------------------------------------- cross-document queue
async function renderQueue() {
  const gen = GEN;
  const items = await getJSON("/v1/review/queue?limit=500");
  if (gen !== GEN) return;
  $("#app").innerHTML = `<h2>待审队列（全部文档，风险最高的在前：未通过规则的单元格，然后是置信度最低的）</h2>
    <p class="keys">↓ / ↑ 移动，Enter 打开该单元格</p>
    <table class="list" id="queue"><thead><tr><th>#</th><th>文档</th><th>单元格</th><th>数值</th><th>置信度</th><th>未通过的规则</th></tr></thead>
    <tbody>${items.map((c, i) => `<tr><td class="num">${i + 1}</td><td class="num">${c.document_id}</td>
      <td><a href="#/doc/${c.document_id}/${encodeURIComponent(c.cell_id)}">${esc(c.cell_id)}</a></td>
      <td class="num">${c.value === null ? "（空）" : esc(c.value)}</td><td class="num">${pct(c.confidence)}</td>
      <td>${esc(c.failing_rules.join("、"))}</td></tr>`).join("") || '<tr><td colspan="6">没有待审单元格</td></tr>'}</tbody></table>`;
  const links = $$("#queue a");
  links.forEach((a, i) => a.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" && links[i + 1]) { e.preventDefault(); links[i + 1].focus(); }
    if (e.key === "ArrowUp" && links[i - 1]) { e.preventDefault(); links[i - 1].focus(); }
  }));
  if (links[0]) links[0].focus();
}

// ---------------------------------------------------------------- document view
const S = { doc: null, result: null, labels: null, pages: [], page: 1, queue: [], order: [], current: null, imgURL: {}, zoom: 1, rowPage: {} };
const ZOOMS = [0.5, 0.75, 1, 1.5, 2, 3, 4];

async function renderDoc(id, cellFromHash) {
  const gen = GEN;
  const doc = await getJSON(`/v1/documents/${id}`);
  if (gen !== GEN) return;
  S.doc = doc;
  if (doc.status === "queued" || doc.status === "processing" || doc.status === "failed") {
    const job = doc.job || {};
    $("#app").innerHTML = `<h2>${esc(doc.filename)}</h2><p>状态：${STATUS[doc.status]}
      ${doc.status !== "failed" ? `<progress max="${job.pages_total || 1}" value="${job.pages_done || 0}"></progress> ${job.pages_done || 0}/${job.pages_total || "?"} 页` : ""}
      ${esc(doc.error_message || "")}</p>`;
    if (doc.status !== "failed") setTimeout(() => { if (location.hash.startsWith("#/doc/" + id)) renderDoc(id, cellFromHash); }, 1500);
    return;
  }
  const [result, labels, pages] = await Promise.all([
    getJSON(`/v1/documents/${id}/result`), getJSON(`/v1/documents/${id}/labels`), getJSON(`/v1/documents/${id}/pages`)]);
  if (gen !== GEN) return;
  Object.assign(S, { result, labels, pages, queue: result.review.slice(), order: Object.keys(labels).filter((c) => c in result.cells), imgURL: {}, zoom: 1 });
  S.rowPage = rowPages();
  if (cellFromHash && cellFromHash in result.cells) S.current = cellFromHash;
  else if (!S.current || !(S.current in result.cells) || S.docId !== id) S.current = S.queue[0] || S.order[0];
  S.docId = id;
  S.page = pageOf(S.current) || (pages[0] && pages[0].number) || 1;
  $("#app").innerHTML = `<h2>${esc(doc.filename)} <small>${esc(result.report.agency || "")} ${esc(result.report.year || "")}年 ·
      格式 ${esc(result.report.format)} · <span id="docstatus" class="status-${doc.status}">${STATUS[doc.status]}</span>
      · 待审 <span id="opencount">${S.queue.length}</span>
      · 未通过规则 ${result.checks.filter((k) => !k.passed && k.severity === "error").length}
      · 警告 <span id="warncount">${result.checks.filter((k) => !k.passed && k.severity === "warning").length}</span></small></h2>
    ${(result.flags || []).length ? `<p class="docflags" id="docflags">需注意：${result.flags.map((f) => esc(DOC_FLAGS[f.split(":")[0]] || f.split(":")[0]) + (f.includes(":") ? "（" + esc(f.split(":").slice(1).join(":")) + "）" : "")).join("；")}</p>` : ""}
    <div class="layout"><div>
      <div class="toolbar" id="pager"></div>
      <div class="toolbar" id="zoombar" ${pages.length ? "" : "hidden"}>
        <button type="button" id="zoom-out" title="Alt+−">缩小</button>
        <span id="zoomlevel">100%</span>
        <button type="button" id="zoom-in" title="Alt+=">放大</button>
        <button type="button" id="zoom-fit" title="Alt+0">适合宽度</button>
        <span class="keys">拖动或 Alt+方向键平移</span>
      </div>
      <div id="viewport"><div class="pagebox" id="pagebox"><p>${pages.length ? "" : "此文件为文本，无页面图像。"}</p></div></div>
    </div><div>
      <div class="panel" id="panel"></div>
      <div class="toolbar">
        <button id="undo" type="button" title="Ctrl+Z">撤销上一步 (Ctrl+Z)</button>
        <button id="bulk" type="button" title="Alt+B">批量接受… (Alt+B)</button>
      </div>
      <div class="tables" id="tables"></div>
    </div></div>`;
  $("#bulk").onclick = bulkAccept;
  $("#undo").onclick = undo;
  $("#zoom-in").onclick = () => zoomBy(1);
  $("#zoom-out").onclick = () => zoomBy(-1);
  $("#zoom-fit").onclick = () => setZoom(1);
  enablePan();
  drawTables(); await drawPage(); drawPanel();
}

// The page a cell was read on; for a cell without a position, the page where its row, else its
// table, was found (the page most of the row's / table's located cells are on).
function rowPages() {
  const count = (map, key, page) => { map[key] = map[key] || {}; map[key][page] = (map[key][page] || 0) + 1; };
  const rows = {}, tables = {};
  for (const [cid, c] of Object.entries(S.result.cells)) {
    if (!c.page) continue;
    const [t] = cid.split("."), row = cid.slice(0, cid.lastIndexOf("."));
    count(rows, row, c.page); count(tables, t, c.page);
  }
  const best = (m) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, +Object.entries(v).sort((a, b) => b[1] - a[1])[0][0]]));
  return { rows: best(rows), tables: best(tables) };
}
function pageOf(cid) {
  const c = S.result.cells[cid];
  if (!c) return null;
  if (c.page) return c.page;
  return S.rowPage.rows[cid.slice(0, cid.lastIndexOf("."))] || S.rowPage.tables[cid.split(".")[0]] || null;
}

function cellClass(cid) {
  const c = S.result.cells[cid];
  const k = [];
  if (c.flags.includes("failed_rule")) k.push("failing");
  if (c.review) k.push("risky");
  if (c.flags.includes("reviewed")) k.push("done");
  if (c.flags.includes("corrected")) k.push("corrected");
  if (cid === S.current) k.push("current");
  else if (cid.slice(0, cid.lastIndexOf(".")) === S.current.slice(0, S.current.lastIndexOf(".")) && !S.result.cells[S.current].bbox) k.push("row");
  return k.join(" ");
}

function drawTables() {
  const byTable = new Map();
  for (const cid of S.order) {
    const lab = S.labels[cid];
    if (!byTable.has(lab.table)) byTable.set(lab.table, new Map());
    const rows = byTable.get(lab.table);
    const key = lab.group + "\u0000" + lab.row;
    if (!rows.has(key)) rows.set(key, { group: lab.group, row: lab.row, cells: [] });
    rows.get(key).cells.push([cid, lab.column]);
  }
  let html = "";
  for (const [title, rows] of byTable) {
    const first = [...rows.values()][0].cells.map((x) => x[1]);
    const uniform = [...rows.values()].every((r) => r.cells.length === first.length && r.cells.every((x, i) => x[1] === first[i]));
    const width = uniform ? first.length + 1 : Math.max(...[...rows.values()].map((r) => 2 * r.cells.length)) + 1;
    html += `<h3>${esc(title)}</h3><table>`;
    if (uniform) html += `<tr><th></th>${first.map((c) => `<th>${esc(c)}</th>`).join("")}</tr>`;
    const shown = new Set();
    for (const { group, row, cells } of rows.values()) {
      // the printed group heading (（三）不予公开 …) above its numbered rows, once
      if (group && !shown.has(group)) { shown.add(group); html += `<tr><th class="group" colspan="${width}">${esc(group)}</th></tr>`; }
      html += `<tr><th>${esc(row)}</th>` + cells.map(([cid, col]) => {
        const v = S.result.cells[cid].value;
        return (uniform ? "" : `<td class="cl">${esc(col)}</td>`) +
          `<td class="v ${cellClass(cid)}" data-cell="${cid}" tabindex="${cid === S.current ? 0 : -1}" title="${esc(cid)}">${v === null ? "" : esc(v)}</td>`;
      }).join("") + "</tr>";
    }
    html += "</table>";
  }
  const scroll = $("#tables").scrollTop;
  $("#tables").innerHTML = html;
  $("#tables").scrollTop = scroll;
  for (const td of $$("#tables td.v")) {
    td.onclick = () => select(td.dataset.cell, true);
    td.onkeydown = gridKey;
  }
}

// Arrow keys move through every cell of the report (not only the queued ones); Enter edits one.
function gridKey(e) {
  const td = e.currentTarget;
  const cells = $$("#tables td.v");
  const i = cells.indexOf(td);
  let target = null;
  if (e.key === "ArrowRight") target = cells[i + 1];
  else if (e.key === "ArrowLeft") target = cells[i - 1];
  else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    const rows = $$("#tables tr").filter((tr) => tr.querySelector("td.v"));
    const tr = td.closest("tr"), r = rows.indexOf(tr), col = $$("td.v", tr).indexOf(td);
    const next = rows[r + (e.key === "ArrowDown" ? 1 : -1)];
    if (next) { const vs = $$("td.v", next); target = vs[Math.min(col, vs.length - 1)]; }
  } else if (e.key === "Home") target = cells[0];
  else if (e.key === "End") target = cells[cells.length - 1];
  else if (e.key === "Enter" || e.key === "F2") { e.preventDefault(); select(td.dataset.cell, true); return; }
  else if (e.key === "Escape") { e.preventDefault(); $("#value")?.focus(); return; }
  else if (/^[0-9\-]$/.test(e.key) && !e.altKey && !e.ctrlKey) {
    e.preventDefault();
    select(td.dataset.cell, true).then(() => { const v = $("#value"); v.value = e.key; });
    return;
  }
  if (target) { e.preventDefault(); focusGrid(target.dataset.cell); }
}
function focusGrid(cid) {
  for (const td of $$("#tables td.v")) td.tabIndex = td.dataset.cell === cid ? 0 : -1;
  const td = $(`#tables td.v[data-cell="${CSS.escape(cid)}"]`);
  if (td) { td.focus(); td.scrollIntoView({ block: "nearest" }); }
}

async function drawPage() {
  if (!S.pages.length) return;
  $("#pager").innerHTML = S.pages.map((p) => `<button type="button" data-page="${p.number}" ${p.number === S.page ? 'disabled aria-current="page"' : ""}>第 ${p.number} 页</button>`).join("") +
    '<span class="keys">PageUp/PageDown 翻页时按住 Alt</span>';
  for (const b of $$("#pager button")) b.onclick = () => { S.page = +b.dataset.page; drawPage(); };
  const key = S.page;
  const want = imageWidth();
  const cacheKey = key + "@" + want;
  if (!S.imgURL[cacheKey]) S.imgURL[cacheKey] = await blobURL(`/v1/documents/${S.doc.id}/pages/${key}/image?width=${want}`);
  if (key !== S.page) return;
  const box = $("#pagebox");
  applyZoom();
  box.innerHTML = `<img id="pageimg" alt="第 ${key} 页" src="${S.imgURL[cacheKey]}" draggable="false">`;
  const info = S.pages.find((p) => p.number === key);
  if (!info || !info.width || !info.height) return;
  // boxes in percent of the page: zooming resizes the page box and they follow
  for (const [cid, c] of Object.entries(S.result.cells)) {
    if (c.page !== key || !c.bbox) continue;
    const d = document.createElement("div");
    d.className = "cellbox " + cellClass(cid); d.dataset.cell = cid; d.title = cid;
    Object.assign(d.style, {
      left: (c.bbox[0] / info.width) * 100 + "%", top: (c.bbox[1] / info.height) * 100 + "%",
      width: ((c.bbox[2] - c.bbox[0]) / info.width) * 100 + "%", height: ((c.bbox[3] - c.bbox[1]) / info.height) * 100 + "%",
    });
    d.onclick = () => select(cid, true);
    box.appendChild(d);
  }
  const img = $("#pageimg");
  if (img.complete && img.naturalWidth) revealCurrent(); else img.onload = revealCurrent;
}

// the image is fetched at the width it is shown at (sharp digits when zoomed in), in steps
function imageWidth() {
  const shown = ($("#viewport")?.clientWidth || 800) * S.zoom * (window.devicePixelRatio || 1);
  return [1000, 1600, 2200, 3000].find((w) => w >= shown) || 3000;
}
function applyZoom() {
  const vp = $("#viewport"), box = $("#pagebox");
  if (!vp || !box) return;
  box.style.width = Math.round((vp.clientWidth - 2) * S.zoom) + "px";
  $("#zoomlevel").textContent = Math.round(S.zoom * 100) + "%";
}
function setZoom(z) {
  const vp = $("#viewport");
  const cx = (vp.scrollLeft + vp.clientWidth / 2) / vp.scrollWidth, cy = (vp.scrollTop + vp.clientHeight / 2) / vp.scrollHeight;
  const before = imageWidth();
  S.zoom = z;
  applyZoom();
  vp.scrollLeft = cx * vp.scrollWidth - vp.clientWidth / 2;
  vp.scrollTop = cy * vp.scrollHeight - vp.clientHeight / 2;
  if (imageWidth() !== before) drawPage();
}
function zoomBy(dir) {
  const i = ZOOMS.findIndex((z) => z >= S.zoom - 1e-9);
  setZoom(ZOOMS[Math.max(0, Math.min(ZOOMS.length - 1, (i < 0 ? ZOOMS.length - 1 : i) + dir))]);
}
function pan(dx, dy) { const vp = $("#viewport"); vp.scrollLeft += dx; vp.scrollTop += dy; }
function enablePan() {
  const vp = $("#viewport");
  let drag = null;
  vp.onmousedown = (e) => { if (e.target.classList.contains("cellbox")) return; drag = [e.clientX, e.clientY]; vp.classList.add("dragging"); e.preventDefault(); };
  window.onmouseup = () => { drag = null; vp.classList.remove("dragging"); };
  vp.onmousemove = (e) => { if (!drag) return; pan(drag[0] - e.clientX, drag[1] - e.clientY); drag = [e.clientX, e.clientY]; };
  vp.onwheel = (e) => { if (e.ctrlKey) { e.preventDefault(); zoomBy(e.deltaY < 0 ? 1 : -1); } };
}
// the current cell's box (or its row's) in view, when zoomed in
function revealCurrent() {
  const el = $(`.cellbox[data-cell="${CSS.escape(S.current)}"]`) || $(".cellbox.row");
  if (!el) return;
  const vp = $("#viewport"), r = el.getBoundingClientRect(), v = vp.getBoundingClientRect();
  if (r.left < v.left || r.right > v.right || r.top < v.top || r.bottom > v.bottom) {
    vp.scrollLeft += r.left - v.left - v.width / 2 + r.width / 2;
    vp.scrollTop += r.top - v.top - v.height / 2 + r.height / 2;
  }
}

async function drawPanel(error) {
  const cid = S.current, c = S.result.cells[cid], lab = S.labels[cid] || {};
  const failing = S.result.checks.filter((k) => !k.passed && k.severity === "error" && k.cells.includes(cid));
  const warned = S.result.checks.filter((k) => !k.passed && k.severity === "warning" && k.cells.includes(cid));
  const pos = S.queue.indexOf(cid);
  const fallback = !c.bbox ? pageOf(cid) : null;
  $("#panel").innerHTML = `<h2 id="cell-id">${esc(cid)}</h2>
    <div class="label" id="cell-label">${esc(lab.table)}${lab.group ? " / " + esc(lab.group) : ""} / ${esc(lab.row)} / ${esc(lab.column)}</div>
    <div id="cropwrap">${c.bbox ? "" : `<p class="label" id="nobox">此单元格在页面上没有位置（未读出或由规则推出）${fallback ? `；已显示该表格所在的第 ${fallback} 页，同一行的单元格已标出。<button type="button" id="jump">跳到第 ${fallback} 页 (Alt+G)</button>` : "。"}</p>`}</div>
    <div>置信度 ${(c.confidence * 100).toFixed(1)}% · ${c.flags.map(esc).join("、") || "无标记"}
      ${pos >= 0 ? ` · 待审第 ${pos + 1}/${S.queue.length} 个` : " · 不在待审队列"}</div>
    <div class="rules">${failing.map((k) => (k.status === "inferred" ? "【按规则推断成立，待核对】" : "【错误】") + esc(k.message)).join("<br>")}</div>
    <div class="rules warnings" id="cell-warnings">${warned.map((k) => "【警告】" + esc(k.message)).join("<br>")}</div>
    <label>数值 <input id="value" autocomplete="off" value="${c.value === null ? "" : esc(c.value)}"></label>
    <button type="button" id="accept">保存 (Enter)</button>
    <div class="error" id="value-error" role="alert">${esc(error || "")}</div>
    <div class="keys">Enter 保存（数值未改动即接受）· ↓/↑ 下一个/上一个待审单元格 · Ctrl+↓/↑ 报告中的下一个/上一个单元格 ·
      Esc 还原输入，再按 Esc 到表格（方向键走遍每个单元格，Enter 编辑）· Ctrl+Z 撤销 · Alt+= / Alt+− 缩放 · Alt+0 适合宽度 · Alt+方向键 平移 · Alt+B 批量接受 · 空白单元格输入“-”</div>`;
  const input = $("#value");
  input.onkeydown = onKey;
  $("#accept").onclick = submit;
  if ($("#jump")) $("#jump").onclick = jumpToTable;
  if (!error) { input.focus(); input.select(); } else input.focus();
  if (c.page && c.bbox) {
    try {
      const url = await blobURL(`/v1/documents/${S.doc.id}/cells/${encodeURIComponent(cid)}/crop`);
      if (S.current === cid && $("#cropwrap")) $("#cropwrap").innerHTML = `<img class="crop" id="crop" alt="单元格截图" src="${url}">`;
    } catch (e) { /* no image for this cell */ }
  }
}

function jumpToTable() {
  const p = pageOf(S.current);
  if (p && p !== S.page) { S.page = p; drawPage(); } else revealCurrent();
}

function original() { const c = S.result.cells[S.current]; return c.value === null ? "" : String(c.value); }

function onKey(e) {
  const input = e.currentTarget;
  if (e.key === "Enter") { e.preventDefault(); submit(); }
  else if ((e.key === "ArrowDown" || e.key === "ArrowUp") && e.ctrlKey) { e.preventDefault(); stepAll(e.key === "ArrowDown" ? 1 : -1); }
  else if ((e.key === "ArrowDown" || e.key === "PageDown") && !e.altKey) { e.preventDefault(); step(1); }
  else if ((e.key === "ArrowUp" || e.key === "PageUp") && !e.altKey) { e.preventDefault(); step(-1); }
  else if (e.key === "Escape") {
    e.preventDefault();
    if (input.value !== original()) { input.value = original(); input.select(); $("#value-error").textContent = ""; }
    else focusGrid(S.current);
  } else if (e.key === "z" && (e.ctrlKey || e.metaKey) && input.value === original()) { e.preventDefault(); undo(); }
}

// keys anywhere on the review page (zoom, pan, jump, bulk accept, undo outside the input)
function reviewKeys(e) {
  if (!S.result || !location.hash.startsWith("#/doc/") || $("#confirm").open) return;
  if (e.altKey && !e.ctrlKey) {
    const k = e.key;
    const act = { "=": () => zoomBy(1), "+": () => zoomBy(1), "-": () => zoomBy(-1), "0": () => setZoom(1),
      ArrowLeft: () => pan(-120, 0), ArrowRight: () => pan(120, 0), ArrowUp: () => pan(0, -120), ArrowDown: () => pan(0, 120),
      g: jumpToTable, G: jumpToTable, b: bulkAccept, B: bulkAccept,
      PageDown: () => pageStep(1), PageUp: () => pageStep(-1) }[k];
    if (act) { e.preventDefault(); act(); }
  } else if (e.key === "z" && (e.ctrlKey || e.metaKey) && e.target.id !== "value" && !["INPUT", "TEXTAREA"].includes(e.target.tagName)) {
    e.preventDefault(); undo();
  }
}
document.addEventListener("keydown", reviewKeys);

function pageStep(dir) {
  const i = S.pages.findIndex((p) => p.number === S.page);
  const next = S.pages[i + dir];
  if (next) { S.page = next.number; drawPage(); }
}

function step(dir) {
  if (!S.queue.length) { toast("没有待审单元格"); return; }
  let i = S.queue.indexOf(S.current);
  i = i < 0 ? (dir > 0 ? 0 : S.queue.length - 1) : (i + dir + S.queue.length) % S.queue.length;
  select(S.queue[i]);
}
function stepAll(dir) {
  const i = S.order.indexOf(S.current);
  select(S.order[(i + dir + S.order.length) % S.order.length]);
}

async function select(cid, focusInput) {
  S.current = cid;
  const p = pageOf(cid);
  const changePage = p && p !== S.page;
  if (changePage) S.page = p;
  drawTables();
  $("#tables td.v.current")?.scrollIntoView({ block: "nearest" });
  if (changePage) drawPage();
  else { for (const el of $$(".cellbox")) el.className = "cellbox " + cellClass(el.dataset.cell); revealCurrent(); }
  await drawPanel();
  if (focusInput) $("#value")?.focus();
}

async function submit() {
  const cid = S.current;
  const typed = $("#value").value.trim();
  const same = typed === original();
  const base = `/v1/documents/${S.doc.id}/cells/${encodeURIComponent(cid)}`;
  try {
    const out = same ? await postJSON(base + "/accept") : await postJSON(base + "/correct", { value: typed });
    toast(same ? "已接受 " + cid : "已更正 " + cid + " → " + typed + "（Ctrl+Z 撤销）");
    await refresh(out.next_cell);
  } catch (err) {
    // refused (a negative count, a fraction, not a number …): the reason, in Chinese; nothing was saved
    $("#value-error").textContent = err.message;
    toast("未保存：" + err.message);
    $("#value").focus();
  }
}

async function bulkAccept() {
  let pre;
  try { pre = await getJSON(`/v1/documents/${S.doc.id}/review/bulk-accept`); } catch (err) { toast("失败：" + err.message); return; }
  if (!pre.cells) { toast("没有可批量接受的单元格"); return; }
  const ok = await confirmDialog("批量接受", `<p id="bulk-summary">将接受 <b>${pre.cells}</b> 个有数值且通过全部规则的单元格（其中 ${pre.queued} 个在待审队列中）。</p>
    <p>不会接受：${pre.skipped_blank.length} 个空白单元格（空白可能是漏读的 0，请逐个核对）、${pre.skipped_failing.length} 个未通过规则的单元格。</p>
    <p>接受后可用“撤销上一步”（Ctrl+Z）整批撤销。</p>`);
  if (!ok) { toast("已取消批量接受"); $("#value")?.focus(); return; }
  try {
    const out = await postJSON(`/v1/documents/${S.doc.id}/review/bulk-accept`, { confirm: true, expected_cells: pre.cells });
    toast("已批量接受 " + out.accepted + " 个单元格（Ctrl+Z 撤销）");
    await refresh();
  } catch (err) { toast("失败：" + err.message); }
}

async function undo() {
  try {
    const out = await postJSON(`/v1/documents/${S.doc.id}/review/undo`);
    toast("已撤销：" + (out.cells.length > 1 ? out.cells.length + " 个单元格（批量接受）" : out.cells[0]));
    await refresh(out.cells.length === 1 ? out.cells[0] : undefined);
  } catch (err) { toast("无法撤销：" + err.message); }
}

async function refresh(next) {
  const id = S.doc.id;
  const [doc, result] = await Promise.all([getJSON(`/v1/documents/${id}`), getJSON(`/v1/documents/${id}/result`)]);
  S.doc = doc; S.result = result; S.queue = result.review.slice();
  $("#docstatus").textContent = STATUS[doc.status]; $("#docstatus").className = "status-" + doc.status;
  $("#opencount").textContent = S.queue.length;
  await select(next || S.queue[0] || S.current);
}

// ---------------------------------------------------------------- exports
async function renderExports() {
  const gen = GEN;
  const data = await getJSON("/v1/documents?limit=1000");
  if (gen !== GEN) return;
  const docs = data.items.filter((d) => d.status === "review" || d.status === "verified");
  $("#app").innerHTML = `<h2>导出</h2>
    <form id="export-form">
      <p>多份报告导出为一张表：每份报告一行，每个单元格一列（已应用审核更正）。</p>
      <table class="list"><thead><tr><th><input type="checkbox" id="export-all" checked aria-label="全选"></th><th>编号</th><th>文件</th><th>机关</th><th>年度</th><th>状态</th><th>单份导出</th></tr></thead>
      <tbody>${docs.map((d) => `<tr><td><input type="checkbox" class="export-doc" value="${d.id}" checked aria-label="${esc(d.filename)}"></td>
        <td class="num">${d.id}</td><td>${esc(d.filename)}</td><td>${esc(d.agency || "")}</td><td>${esc(d.year || "")}</td>
        <td class="status-${d.status}">${STATUS[d.status]}</td>
        <td>${["csv", "xlsx", "json"].map((f) => `<button type="button" class="export-one" data-id="${d.id}" data-fmt="${f}">${f.toUpperCase()}</button>`).join(" ")}</td></tr>`).join("") || '<tr><td colspan="7">还没有提取完成的报告</td></tr>'}</tbody></table>
      <p><label>格式 <select id="export-format"><option value="csv">CSV</option><option value="xlsx">Excel (XLSX)</option><option value="json">JSON</option></select></label>
      <button type="submit" id="export-go">导出所选报告</button> <span id="export-done"></span></p>
    </form>`;
  $("#export-all").onchange = (e) => { for (const c of $$(".export-doc")) c.checked = e.target.checked; };
  for (const b of $$(".export-one")) {
    b.onclick = async () => {
      try { const name = await download(`/v1/documents/${b.dataset.id}/export/${b.dataset.fmt}`, {}, `document-${b.dataset.id}.${b.dataset.fmt}`); $("#export-done").textContent = "已下载 " + name; }
      catch (err) { toast("导出失败：" + err.message); }
    };
  }
  $("#export-form").onsubmit = async (e) => {
    e.preventDefault();
    const ids = $$(".export-doc").filter((c) => c.checked).map((c) => +c.value);
    if (!ids.length) { toast("请至少选择一份报告"); return; }
    const fmt = $("#export-format").value;
    try {
      const name = await download("/v1/exports", { method: "POST", json: { document_ids: ids, format: fmt } }, `reports.${fmt}`);
      $("#export-done").textContent = `已导出 ${ids.length} 份报告：${name}`;
    } catch (err) { toast("导出失败：" + err.message); }
  };
  $("#export-go").focus();
}

// ---------------------------------------------------------------- models
function modelFigures(m) {
  const x = m.metrics || {};
  const test = x.test || {};
  const cmp = x.comparison || {};
  const split = x.split || {};
  const data = x.data || {};
  return {
    "来源": m.shipped ? "随 gongkai 提供（只读）" : m.version === "baseline@1" ? "规则基线（无模型）" : m.training_run_id ? `训练运行 #${m.training_run_id}` : "服务的模型目录",
    "状态": m.active ? "启用中" : "",
    "基础模型": x.base_version || "—",
    "训练 / 验证 / 测试文档": split.train ? `${split.train.length} / ${split.val.length} / ${split.test.length}（按文档划分，互不重叠）` : data.train_reports ? `${data.train_reports} / ${data.val_reports} / ${test.reports || "—"}` : "—",
    "验证集锚点 F1": x.val_anchor_f1 !== undefined ? x.val_anchor_f1.toFixed(4) : "—",
    "测试集单元格准确率（模型）": test.model ? pct(test.model.cell_accuracy) : "—",
    "测试集单元格准确率（基线）": test.baseline ? pct(test.baseline.cell_accuracy) : "—",
    "留出文档上的比较": cmp.verdict ? `<span class="verdict-${cmp.verdict}">${VERDICT[cmp.verdict] || cmp.verdict}</span>：本模型错 ${cmp.candidate?.wrong ?? "—"} 个，${esc(cmp.against)} 错 ${cmp.active?.wrong ?? "—"} 个（共 ${cmp.candidate?.cells ?? "—"} 个单元格，${(cmp.documents || []).length} 份文档）` : "—",
    "启用时间": m.activated_at ? esc(m.activated_at.replace("T", " ").slice(0, 19)) : "—",
  };
}

async function renderModels(message) {
  const gen = GEN;
  const models = await getJSON("/v1/models");
  if (gen !== GEN) return;
  const figs = models.map(modelFigures);
  const keys = Object.keys(figs[0] || {});
  const admin = ME && ME.role === "admin";
  $("#app").innerHTML = `<h2>模型（并排比较）</h2>
    <p>新提取使用“启用中”的模型：扫描件和图片的页面用该模型，文本、HTML、DOCX 和数字 PDF 用规则基线（与命令行 <code>gongkai extract</code> 的 auto 相同）。</p>
    <div class="error" id="models-msg" role="alert">${message || ""}</div>
    <table class="models" id="models"><thead><tr><th></th>${models.map((m) => `<th class="${m.active ? "active" : ""}">${esc(m.version)}</th>`).join("")}</tr></thead>
    <tbody>${keys.map((k) => `<tr><th>${k}</th>${figs.map((f, i) => `<td class="${models[i].active ? "active" : ""}">${f[k]}</td>`).join("")}</tr>`).join("")}
    <tr><th>操作</th>${models.map((m) => `<td>${m.active ? "启用中" : admin ? `<button type="button" class="activate" data-version="${esc(m.version)}">启用 ${esc(m.version)}</button>` : "（需要管理员）"}</td>`).join("")}</tr></tbody></table>`;
  for (const b of $$(".activate")) b.onclick = () => activate(b.dataset.version, false);
  const first = $(".activate"); if (first) first.focus();
}

async function activate(version, force) {
  try {
    await postJSON(`/v1/models/${encodeURIComponent(version)}/activate${force ? "?force=true" : ""}`);
    toast("已启用 " + version);
    await renderModels();
  } catch (err) {
    // refused: the reason (worse than the active model on the held-out documents …), and a way to force it
    const canForce = ["candidate_worse", "comparison_stale", "comparison_failed"].includes(err.code);
    await renderModels(esc(err.message) + (canForce ? ` <button type="button" id="force">仍然启用 ${esc(version)}</button>` : ""));
    if ($("#force")) { $("#force").onclick = () => activate(version, true); $("#force").focus(); }
  }
}

// ---------------------------------------------------------------- training runs
async function renderTraining() {
  const gen = GEN;
  let runs, models;
  try { [runs, models] = await Promise.all([getJSON("/v1/training/runs"), getJSON("/v1/models")]); }
  catch (err) { if (gen === GEN) $("#app").innerHTML = `<h2>训练</h2><p class="error">${esc(err.message)}</p>`; return; }
  if (gen !== GEN) return;
  const row = (r) => {
    const p = r.progress || {};
    const cmp = (r.metrics || {}).comparison || {};
    const split = (r.metrics || {}).split;
    const busy = r.status === "queued" || r.status === "running";
    return `<tr data-run="${r.id}"><td class="num">${r.id}</td><td class="run-status">${RUN_STATUS[r.status] || r.status}${r.error_code ? `（${esc(r.error_code)}：${esc(r.error_message || "")}）` : ""}</td>
      <td>${split ? `${split.train.length} / ${split.val.length} / ${split.test.length}` : r.documents.length || "—"}</td>
      <td class="progress">${STAGE[p.stage] || (busy ? "等待中" : "—")}${p.epochs ? ` <progress max="${p.epochs}" value="${p.epoch || 0}"></progress> 第 ${p.epoch || 0}/${p.epochs} 轮` : ""}</td>
      <td class="num">${p.loss !== undefined ? p.loss.toFixed(4) : "—"}</td><td class="num">${busy ? secs(p.eta_s) : secs(p.elapsed_s)}</td>
      <td class="comparison">${cmp.verdict ? `<span class="verdict-${cmp.verdict}">${VERDICT[cmp.verdict]}</span>（本模型错 ${cmp.candidate?.wrong ?? "—"}，${esc(cmp.against)} 错 ${cmp.active?.wrong ?? "—"}）` : "—"}</td>
      <td>${r.model_version ? `<a href="#/models">${esc(r.model_version)}</a>` : "—"}</td></tr>`;
  };
  if (!$("#runs")) {
    $("#app").innerHTML = `<h2>训练</h2>
      <form id="train-form"><p>用已核验的报告微调布局模型。报告按文档分为训练、验证、测试三组，互不重叠（至少 3 份）；训练后在测试文档上与当前模型比较，不如当前模型的不会被启用。</p>
        <label>轮数 <input type="number" id="epochs" min="1" max="50" value="3"></label>
        <label>基础模型 <select id="base">${models.filter((m) => m.version !== "baseline@1").map((m) => `<option ${m.active ? "selected" : ""}>${esc(m.version)}</option>`).join("")}</select></label>
        <button type="submit" id="train-go">开始训练</button> <span class="error" id="train-error" role="alert"></span></form>
      <table class="list" id="runs"><thead><tr><th>编号</th><th>状态</th><th>训练/验证/测试文档</th><th>进度</th><th>损失</th><th>用时 / 剩余</th><th>与当前模型比较</th><th>模型</th></tr></thead><tbody></tbody></table>`;
    $("#train-form").onsubmit = async (e) => {
      e.preventDefault();
      $("#train-error").textContent = "";
      try {
        await postJSON("/v1/training/runs", { params: { epochs: +$("#epochs").value || 3, base_version: $("#base").value || undefined } });
        toast("训练已开始"); renderTraining();
      } catch (err) { $("#train-error").textContent = err.message; }
    };
    $("#train-go").focus();
  }
  $("#runs tbody").innerHTML = runs.map(row).join("") || '<tr><td colspan="8">还没有训练运行</td></tr>';
  if (runs.some((r) => r.status === "queued" || r.status === "running")) {
    clearTimeout(renderTraining.timer);
    renderTraining.timer = setTimeout(() => { if (location.hash === "#/training") renderTraining(); }, 1500);
  }
}

// ---------------------------------------------------------------- router
async function route() {
  GEN += 1;
  S.result = null;
  if (!token()) return renderLogin();
  $("#logout").hidden = false; $("#nav").hidden = false;
  const h = location.hash;
  const section = h.startsWith("#/doc/") ? "list" : (h.match(/^#\/(\w+)/) || [, "list"])[1];
  for (const a of $$("#nav a")) a.classList.toggle("on", a.dataset.nav === section);
  try {
    ME = await getJSON("/v1/me");
    $("#who").textContent = `${ME.name}（${ROLE[ME.role] || ME.role}）`;
    const m = h.match(/^#\/doc\/(\d+)(?:\/(.+))?/);
    if (m) await renderDoc(+m[1], m[2] ? decodeURIComponent(m[2]) : null);
    else if (h === "#/queue") await renderQueue();
    else if (h === "#/exports") await renderExports();
    else if (h === "#/models") await renderModels();
    else if (h === "#/training") await renderTraining();
    else await renderList();
  } catch (err) { if (token()) $("#app").innerHTML = `<p class="error">${esc(err.message)}</p>`; }
}
// Setting a new hash fires hashchange (which routes); routing again here would render twice.
function goHome() { if (location.hash === "#/") route(); else location.hash = "#/"; }
$("#logout").onclick = () => { sessionStorage.removeItem("gk_token"); goHome(); };
window.addEventListener("hashchange", route);
window.addEventListener("resize", () => { if (S.result) applyZoom(); });
route();

// wxopen operator console. Plain ES2020, no framework, no external asset.
//
// The operator key is typed into the login form, kept in this tab's sessionStorage only and
// sent as `Authorization: Bearer` on every fetch to /ops; it never goes into a URL, the page or
// a log. A 401 clears it and returns to the login form. Every DOM node is built with
// createElement/textContent (no innerHTML), so nothing the API returns is ever parsed as HTML.
// The server puts `'use strict';` and LABELS (console/labels.json) before this script
// (src/http/console.rs).

const KEY = 'wxopen.operatorKey';
const $ = (sel, root = document) => root.querySelector(sel);

// ---------------------------------------------------------------- DOM helpers

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : String(kid));
  }
  return el;
}

/** Chinese first, English beneath. */
const bi = (zh, en) => [zh, h('small', { lang: 'en' }, en)];
const biSpan = (zh, en) => h('span', { class: 'bi' }, bi(zh, en));

function fmtTime(secs) {
  if (!secs) return '—';
  return new Date(secs * 1000).toLocaleString('zh-CN', { hour12: false });
}

/** The app's lifecycle stage (GET /ops/apps/{appid} `lifecycle`), in Chinese with English. */
const STAGES = LABELS.STAGES;

function stageText(l) {
  if (!l || !l.stage) return '—';
  const [zh, en] = STAGES[l.stage] || [l.stage, l.stage];
  const facts = [];
  if (l.user_version) facts.push(l.user_version);
  if (l.auditid) facts.push(`#${l.auditid}`);
  if (l.stage === 'gray') facts.push(`${l.percentage}%`);
  if (l.stage === 'privacy_detection_pending' && l.retry_after) facts.push(`≥ ${fmtTime(l.retry_after)}`);
  return [h('strong', {}, zh), ' ', h('small', { lang: 'en' }, en), facts.length ? ` · ${facts.join(' · ')}` : ''];
}

const STATUS = LABELS.STATUS;

function badge(status) {
  const [zh, en] = STATUS[status] || [status, status];
  return h('span', { class: `badge ${status}`, 'data-status': status, title: en }, zh, ' ', h('span', { lang: 'en' }, en));
}

/** ICP filing (小程序备案) statuses, as GET /ops/apps/{appid}/filing and the list name them. */
const FILING = LABELS.FILING;

const SMS = LABELS.SMS;

const MISSING = LABELS.MISSING;

function filingBadge(status) {
  const [zh, en] = FILING[status] || [status, status];
  const cls = status === 'filed' ? 'ok' : /rejected/.test(status) ? 'rejected' : /review/.test(status) ? 'auditing' : 'skipped';
  return h('span', { class: `badge filing ${cls}`, 'data-filing': status, title: en }, zh, ' ', h('span', { lang: 'en' }, en));
}

const ACTIONS = LABELS.ACTIONS;

const FUNC_SETS = LABELS.FUNC_SETS;

// ---------------------------------------------------------------- errors

/** Chinese for the API's error codes (the API's English message is shown beneath). */
const ERROR_ZH = LABELS.ERROR_ZH;

/** Chinese for WeChat's common errcodes, when the API gives no `hint_zh` (its English hint is
 * shown beneath). */
const HINT_ZH = LABELS.HINT_ZH;
const HINT_ZH_BY_ERROR = LABELS.HINT_ZH_BY_ERROR;

/** The ext_json typed into `textarea` as an object, or null once `result` shows why it is not one. */
function extJsonIn(textarea, result) {
  try {
    const v = JSON.parse(textarea.value || '{}');
    if (v && typeof v === 'object' && !Array.isArray(v)) return v;
    throw new Error('not an object');
  } catch (err) {
    show(result, errorBox(new Error(`ext_json 不是 JSON 对象 / ext_json is not a JSON object: ${err.message}`)));
    return null;
  }
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

/** An error box: what went wrong in Chinese, the API's English beneath, and the hint. */
function errorBox(err) {
  if (err instanceof ApiError && err.status === 401) return null; // back at the login form
  const b = err instanceof ApiError ? err.body : { error: 'client', message: String(err && err.message || err) };
  const code = b.error || 'error';
  const status = err instanceof ApiError && err.status ? ` (${err.status})` : '';
  const kids = [
    h('p', { class: 'error-title' }, h('strong', {}, (ERROR_ZH[code] || '请求失败') + status),
      ' ', h('span', { class: 'code-chip' }, code)),
    h('p', { class: 'en', lang: 'en' }, b.message || ''),
  ];
  if (b.errcode !== undefined) {
    kids.push(h('p', {}, `微信错误码 errcode ${b.errcode}`, b.errmsg ? `: ${b.errmsg}` : ''));
  }
  if (b.field) kids.push(h('p', {}, `字段 field: `, h('code', {}, b.field)));
  if (b.auditid !== undefined && code === 'audit_pending') kids.push(h('p', {}, `审核 audit ${b.auditid}`));
  if (code === 'audit_quota') {
    kids.push(h('p', {}, `剩余 ${b.rest} / 共 ${b.limit}，需要 ${b.needed}`,
      h('span', { class: 'en', lang: 'en' }, `${b.rest} of ${b.limit} left, ${b.needed} needed`)));
  }
  if (b.without_conf_list && b.without_conf_list.length) {
    kids.push(h('p', {}, '未声明的接口 undeclared: ', h('code', {}, b.without_conf_list.join(', '))));
  }
  const hintZh = b.hint_zh || HINT_ZH[b.errcode] || HINT_ZH_BY_ERROR[code];
  if (b.hint || hintZh) {
    kids.push(h('p', { class: 'hint' }, '提示：', hintZh || '请按下方英文提示处理',
      b.hint ? h('span', { class: 'en', lang: 'en' }, `Hint: ${b.hint}`) : null));
  }
  return h('div', { class: 'box error-box', role: 'alert', 'data-error': code }, kids);
}

function okBox(zh, en) {
  return h('div', { class: 'box ok-box', role: 'status' }, h('p', {}, zh), h('p', { class: 'en', lang: 'en' }, en));
}

/** Shows `node` (or nothing) in a slot element. */
function show(slot, node) {
  slot.replaceChildren(...(node ? [node] : []));
}

// ---------------------------------------------------------------- API

async function api(method, path, body, headers) {
  const key = sessionStorage.getItem(KEY);
  if (!key) {
    logout();
    throw new ApiError(401, { error: 'unauthorized', message: 'no operator key' });
  }
  const init = {
    method,
    headers: { Authorization: `Bearer ${key}`, Accept: 'application/json', ...(headers || {}) },
    cache: 'no-store',
    credentials: 'omit',
    referrerPolicy: 'no-referrer',
  };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, { error: 'network', message: String(e && e.message || e) });
  }
  if (resp.status === 401) {
    logout({ error: 'unauthorized' });
    throw new ApiError(401, { error: 'unauthorized', message: 'the operator key was refused' });
  }
  const type = resp.headers.get('content-type') || '';
  if (!resp.ok) {
    const b = type.includes('json') ? await resp.json().catch(() => ({})) : { message: await resp.text().catch(() => '') };
    throw new ApiError(resp.status, b);
  }
  return type.includes('application/json') ? resp.json() : resp.blob();
}

const get = (path) => api('GET', path);
const enc = encodeURIComponent;

// ---------------------------------------------------------------- login, shell, routing

let viewSeq = 0; // bumped on every navigation: pollers of an old view stop
const state = {
  filters: { q: '', status: 'authorized', customer: '', penalised: '', filing: '', limit: 50 },
  cursors: [null], // cursor of each page visited; the last is the current page
  selected: new Set(),
};

function loggedIn() {
  return !!sessionStorage.getItem(KEY);
}

function showLogin(error) {
  $('#shell').hidden = true;
  $('#login').hidden = false;
  const line = $('#login-error');
  if (error) {
    line.replaceChildren(...bi('运营密钥无效，请重新输入。', 'The operator key was refused (401): type it again.'));
    line.hidden = false;
  } else {
    line.hidden = true;
  }
  const input = $('#login-key');
  input.value = '';
  input.focus();
}

function logout(reason) {
  sessionStorage.removeItem(KEY);
  viewSeq++;
  $('#main').replaceChildren();
  $('#flash').replaceChildren();
  showLogin(reason && reason.error);
}

// ---------------------------------------------------------------- what this key may do

// GET /ops/me: the key's label, role, customers and, per route, whether it may call it. The
// console shows only the actions the key may take, and in place of the others says which role
// they need; the API refuses them anyway (403), this only spares the operator the attempt.
let me = null;
const ROLE_ZH = { viewer: '只读', operator: '运营', admin: '管理员', service: '服务' };

function rule(method, route) {
  return me && me.routes.find((x) => x.method === method && x.route === route);
}

function may(method, route) {
  const r = rule(method, route);
  return !me || !r || r.allowed;
}

/** Stands where an action the key may not take would be: why it is missing. */
function missing(name, method, route) {
  const r = rule(method, route);
  const needed = r ? r.role : 'admin';
  const rank = { viewer: 0, operator: 1, admin: 2 };
  const scoped = me.customers && (rank[me.role] ?? -1) >= (rank[needed] ?? 9);
  const [zh, en] = scoped
    ? ['此操作涉及所有客户，当前密钥仅限部分客户。', `Spans every customer; this key (${me.label}) is limited to ${me.customers.join(', ')}.`]
    : [`需要${ROLE_ZH[needed] || needed}（${needed}）角色，当前密钥为 ${me.role}。`, `Needs the ${needed} role; this key (${me.label}) is ${me.role}.`];
  return h('p', { class: 'why role-why', id: `role-${name}`, 'data-needs': needed }, bi(zh, en));
}

async function startShell() {
  $('#login').hidden = true;
  $('#shell').hidden = false;
  try {
    me = await get('/ops/me');
  } catch (e) {
    me = null;
    if (e instanceof ApiError && e.status === 401) return;
  }
  for (const [nav, route] of [['batches', '/ops/batches'], ['invitations', '/ops/invitations'], ['notifications', '/ops/notifications']]) {
    const a = document.querySelector(`[data-nav="${nav}"]`);
    if (a) a.hidden = !may('GET', route);
  }
  const who = document.querySelector('#who') || h('span', { id: 'who', class: 'muted' });
  who.replaceChildren(me ? `${me.label} · ${me.role}${me.customers ? ` · ${me.customers.join(', ')}` : ''}` : '');
  $('#logout').before(who);
  if (!location.hash || location.hash === '#' || location.hash === '#/') {
    history.replaceState(null, '', '#/authorizers');
  }
  route();
}

const ROUTES = [
  [/^#\/authorizers$/, 'authorizers', () => viewAuthorizers()],
  [/^#\/apps\/(wx[0-9a-zA-Z]{16})$/, 'authorizers', (m) => viewApp(m[1])],
  [/^#\/templates$/, 'templates', () => viewTemplates()],
  [/^#\/batches$/, 'batches', () => viewBatches()],
  [/^#\/batches\/([0-9a-zA-Z]+)$/, 'batches', (m) => viewBatch(m[1])],
  [/^#\/invitations$/, 'invitations', () => viewInvitations()],
  [/^#\/notifications$/, 'notifications', () => viewNotifications()],
  [/^#\/registrations$/, 'registrations', () => viewRegistrations()],
  [/^#\/registrations\/([0-9a-zA-Z_]+)$/, 'registrations', (m) => viewRegistration(m[1])],
];

function route() {
  if (!loggedIn()) return showLogin();
  viewSeq++;
  $('#flash').replaceChildren();
  for (const [re, nav, view] of ROUTES) {
    const m = location.hash.match(re);
    if (!m) continue;
    for (const a of document.querySelectorAll('[data-nav]')) {
      if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    const main = $('#main');
    main.replaceChildren();
    view(m).catch((e) => {
      const box = errorBox(e);
      if (box) main.append(box);
    });
    return;
  }
  location.hash = '#/authorizers';
}

/** Runs `fn` every `ms` while the view that started it is shown. */
function poll(ms, fn) {
  const seq = viewSeq;
  const tick = async () => {
    if (seq !== viewSeq || !loggedIn()) return;
    let again = true;
    try {
      again = (await fn()) !== false;
    } catch (e) {
      again = !(e instanceof ApiError && e.status === 401);
    }
    if (again && seq === viewSeq) setTimeout(tick, ms);
  };
  setTimeout(tick, ms);
}

function heading(zh, en, ...extra) {
  const el = h('h1', { tabindex: '-1' }, zh, h('small', { lang: 'en' }, en), ...extra);
  return el;
}

function focusHeading() {
  const el = $('#main h1');
  if (el) el.focus({ preventScroll: true });
}

// ---------------------------------------------------------------- authorizers

async function loadAuthorizerPage(cursor, limit) {
  const f = state.filters;
  const q = [`limit=${limit}`];
  if (f.status) q.push(`status=${enc(f.status)}`);
  if (f.customer) q.push(`customer_id=${enc(f.customer)}`);
  if (f.penalised) q.push(`penalised=${enc(f.penalised)}`);
  if (f.filing) q.push(`filing=${enc(f.filing)}`);
  if (cursor) q.push(`cursor=${enc(cursor)}`);
  return get(`/ops/authorizers?${q.join('&')}`);
}

function matches(a, q) {
  const needle = q.toLowerCase();
  return [a.appid, a.nick_name, a.principal_name, a.user_name, a.customer_id]
    .some((v) => v && String(v).toLowerCase().includes(needle));
}

async function viewAuthorizers() {
  const main = $('#main');
  const f = state.filters;
  const search = h('input', { id: 'search', type: 'search', value: f.q, placeholder: '名称 / AppID / 主体 name, appid, principal', title: '在全部页中查找 searches every page' });
  const status = h('select', { id: 'filter-status' },
    [['', '全部 all'], ['authorized', '已授权 authorized'], ['unauthorized', '已取消授权 unauthorized'],
      ['needs_reauthorization', '需重新授权 needs reauthorization']]
      .map(([v, t]) => h('option', { value: v, selected: v === f.status }, t)));
  const customer = h('input', { id: 'filter-customer', value: f.customer, placeholder: 'customer_id' });
  const penalised = h('select', { id: 'filter-penalised' },
    [['', '全部 all'], ['true', '有处罚 penalised'], ['false', '无处罚 not penalised']]
      .map(([v, t]) => h('option', { value: v, selected: v === f.penalised }, t)));
  const filing = h('select', { id: 'filter-filing' },
    [['', '全部 all'], ...Object.entries(FILING).map(([v, [zh, en]]) => [v, `${zh} ${en}`])]
      .map(([v, t]) => h('option', { value: v, selected: v === f.filing }, t)));
  const pageSize = h('select', { id: 'page-size' },
    [20, 50, 100].map((n) => h('option', { value: n, selected: n === f.limit }, `${n}`)));
  const form = h('form', { class: 'toolbar', role: 'search', onsubmit: (e) => {
    e.preventDefault();
    f.q = search.value.trim();
    f.status = status.value;
    f.customer = customer.value.trim();
    f.penalised = penalised.value;
    f.filing = filing.value;
    f.limit = Number(pageSize.value) || 50;
    state.cursors = [null];
    load();
  } },
  h('div', { class: 'field' }, h('label', { for: 'search' }, bi('搜索', 'Search')), search),
  h('div', { class: 'field' }, h('label', { for: 'filter-status' }, bi('状态', 'Status')), status),
  h('div', { class: 'field' }, h('label', { for: 'filter-customer' }, bi('客户', 'Customer')), customer),
  h('div', { class: 'field' }, h('label', { for: 'filter-penalised' }, bi('违规处罚', 'Penalties')), penalised),
  h('div', { class: 'field' }, h('label', { for: 'filter-filing' }, bi('备案', 'Filing')), filing),
  h('div', { class: 'field narrow' }, h('label', { for: 'page-size' }, bi('每页', 'Per page')), pageSize),
  h('button', { type: 'submit', id: 'apply-filters' }, bi('查询', 'Apply')));

  const selection = h('div', { class: 'selection', id: 'selection' });
  const slot = h('div', { id: 'authorizers' });
  main.append(heading('授权账号', 'Authorizers'), form, selection, slot);
  focusHeading();

  function renderSelection() {
    const n = state.selected.size;
    selection.replaceChildren(
      h('span', { id: 'selected-count' }, `已选 ${n} 个`, h('small', { lang: 'en' }, ` ${n} selected`)),
      may('POST', '/ops/batches')
        ? h('button', { type: 'button', id: 'batch-selected', disabled: n === 0, onclick: () => { location.hash = '#/batches'; } },
          bi('对所选批量操作', 'Batch on selected'))
        : missing('batch-selected', 'POST', '/ops/batches'),
      h('button', { type: 'button', class: 'secondary', disabled: n === 0, onclick: () => { state.selected.clear(); load(); } },
        bi('清除选择', 'Clear selection')));
  }

  async function load() {
    renderSelection();
    show(slot, h('p', { class: 'muted' }, '加载中… loading…'));
    try {
      let items; let next = null; let note = null;
      if (f.q) {
        // The API filters by status, customer and filing; the text search walks every page of that.
        items = [];
        let cursor = null; let pages = 0;
        do {
          const page = await loadAuthorizerPage(cursor, 100);
          items.push(...page.items.filter((a) => matches(a, f.q)));
          cursor = page.next;
          pages++;
        } while (cursor && pages < 20);
        note = h('p', { class: 'muted', id: 'search-note' }, `找到 ${items.length} 个匹配「${f.q}」`,
          h('small', { lang: 'en' }, ` ${items.length} match "${f.q}"${cursor ? ' (first 2,000 searched)' : ''}`));
      } else {
        const page = await loadAuthorizerPage(state.cursors[state.cursors.length - 1], f.limit);
        items = page.items;
        next = page.next;
      }
      show(slot, authorizerTable(items, note, next));
    } catch (e) {
      show(slot, errorBox(e));
    }
  }

  function authorizerTable(items, note, next) {
    const selectable = items.filter((a) => a.status === 'authorized');
    const all = h('input', { type: 'checkbox', id: 'select-page',
      checked: selectable.length > 0 && selectable.every((a) => state.selected.has(a.appid)),
      onchange: (e) => {
        for (const a of selectable) {
          if (e.target.checked) state.selected.add(a.appid); else state.selected.delete(a.appid);
        }
        for (const box of slot.querySelectorAll('input[data-appid]')) box.checked = state.selected.has(box.dataset.appid);
        renderSelection();
      } });
    const rows = items.map((a) => {
      const audit = a.latest_audit;
      const box = h('input', { type: 'checkbox', 'data-appid': a.appid, 'aria-label': `选择 select ${a.nick_name || a.appid}`,
        checked: state.selected.has(a.appid), disabled: a.status !== 'authorized',
        onchange: (e) => {
          if (e.target.checked) state.selected.add(a.appid); else state.selected.delete(a.appid);
          renderSelection();
        } });
      return h('tr', { 'data-appid': a.appid },
        h('td', { class: 'pick' }, box),
        h('td', { class: 'name-cell' }, h('a', { href: `#/apps/${a.appid}`, class: 'app-link' }, a.nick_name || a.appid),
          a.development_permission ? null : h('div', { class: 'why', title: 'permission set 18 missing' }, '⚠ 缺少权限集 18', h('small', { lang: 'en' }, 'set 18 missing'))),
        h('td', { class: 'mono', 'data-label': 'AppID' }, a.appid),
        h('td', { 'data-label': '客户 Customer' }, a.customer_id || '—'),
        h('td', { 'data-label': '授权 Status' }, badge(a.status)),
        h('td', { class: 'filing-cell', 'data-label': '备案 Filing' }, filingBadge(a.filing || 'unchecked')),
        h('td', { class: 'audit-cell', 'data-label': '最新审核 Latest audit' }, audit ? [badge(audit.status), ' ', h('span', { class: 'muted mono' }, `#${audit.auditid}`),
          audit.status === 'rejected' && audit.reason ? h('div', { class: 'muted' }, audit.reason) : null] : h('span', { class: 'muted' }, '—')),
        h('td', { class: 'online-cell', 'data-label': '线上版本 Online' }, a.last_release ? [h('strong', {}, a.last_release.user_version || '?'),
          h('div', { class: 'muted' }, fmtTime(a.last_release.released_at))] : h('span', { class: 'muted' }, '—')),
        h('td', { class: 'penalty-cell', 'data-label': '违规 Penalties' }, penaltyCell(a.penalties)),
        h('td', { class: 'hide-narrow', 'data-label': '令牌 Token' }, a.token && a.token.needs_reauthorization ? badge('needs_reauthorization')
          : a.token && a.token.has_refresh_token ? h('span', { class: 'badge ok' }, '正常 ok') : h('span', { class: 'badge' }, '无 none')));
    });
    const pickPage = h('label', { class: 'check', for: 'select-page' }, all,
      biSpan(`选择本页已授权的 ${selectable.length} 个`, `select the ${selectable.length} authorized on this page`));
    const table = h('div', { class: 'table-wrap' }, h('table', { id: 'authorizer-table', class: 'stack' },
      h('thead', {}, h('tr', {}, h('th', {}, h('span', { class: 'sr' }, '选择 select')), h('th', {}, bi('名称', 'Name')), h('th', {}, 'AppID'),
        h('th', {}, bi('客户', 'Customer')), h('th', {}, bi('授权', 'Status')), h('th', {}, bi('备案', 'Filing')), h('th', {}, bi('最新审核', 'Latest audit')),
        h('th', { title: 'last release through wxopen' }, bi('线上版本', 'Online version')), h('th', {}, bi('违规', 'Penalties')),
        h('th', { class: 'hide-narrow' }, bi('令牌', 'Token')))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 10, class: 'muted' }, '没有匹配的账号 no account matches')))));
    const pager = f.q ? null : h('div', { class: 'pager' },
      h('span', { class: 'muted' }, `第 ${state.cursors.length} 页 page ${state.cursors.length}`),
      h('button', { type: 'button', class: 'secondary', id: 'prev-page', disabled: state.cursors.length <= 1,
        onclick: () => { state.cursors.pop(); load(); } }, bi('上一页', 'Previous')),
      h('button', { type: 'button', class: 'secondary', id: 'next-page', disabled: !next,
        onclick: () => { state.cursors.push(next); load(); } }, bi('下一页', 'Next')));
    return h('div', {}, note, pickPage, table, pager,
      h('p', { class: 'muted' }, h('small', {}, '线上版本：通过 wxopen 最近发布的版本；单个小程序页面显示微信实时数据。'),
        h('small', { lang: 'en' }, 'Online version: the last release made through wxopen; the app page shows WeChat\'s live figures.')));
  }

  await load();
}

// ---------------------------------------------------------------- one app

const isPending = (audit) => !!audit && (audit.status === 'auditing' || audit.status === 'delayed');

/** Why each action is not possible now (null: it is), checked before WeChat is asked. */
function guards(app, quota) {
  const la = app.latest_audit;
  const notAuthorized = app.status !== 'authorized'
    ? [`账号${(STATUS[app.status] || [app.status])[0]}，不能操作`, `the app is ${app.status}`] : null;
  const no18 = app.development_permission ? null
    : ['缺少权限集 18（开发管理），请发送新的邀请', 'permission set 18 (development management) is missing: send a new invitation'];
  const pending = isPending(la) ? [`审核 ${la.auditid} 进行中`, `audit ${la.auditid} pending`] : null;
  const noQuota = quota && quota.rest <= 0
    ? [`本月审核额度已用完（剩余 ${quota.rest} / ${quota.limit}）`, `monthly audit quota used up (${quota.rest} of ${quota.limit} left)`] : null;
  const nothingCommitted = !app.last_commit && !(app.versions && app.versions.experience)
    ? ['尚未提交代码', 'nothing committed yet'] : null;
  let release = null;
  if (!la) release = ['还没有审核过的版本', 'no audited version yet'];
  else if (la.status !== 'approved') release = [`审核 ${la.auditid}：${STATUS[la.status][0]}，只能发布审核通过的版本`, `audit ${la.auditid} is ${la.status}: release only an approved version`];
  else if (la.released_at) release = [`审核 ${la.auditid} 的版本已发布`, `audit ${la.auditid}'s version is already released`];
  const noneLeft = quota && quota.speedup_rest <= 0
    ? [`本月加急次数已用完（共 ${quota.speedup_limit}）`, `no speed-up left this month (of ${quota.speedup_limit})`] : null;
  const notPending = isPending(la) ? null : ['没有进行中的审核', 'no audit pending'];
  const fs = app.filing && app.filing.status;
  const notFiled = fs && fs !== 'filed'
    ? [`备案${(FILING[fs] || [fs])[0]}：须完成备案后才能发布`, `the ICP filing is ${(FILING[fs] || [fs, fs])[1]}: an app not filed may not go live`] : null;
  return {
    commit: notAuthorized || no18,
    submit: notAuthorized || no18 || pending || noQuota || nothingCommitted,
    release: notAuthorized || no18 || release || notFiled,
    undo: notAuthorized || notPending,
    speedup: notAuthorized || notPending || noneLeft,
  };
}

function kv(pairs) {
  return h('dl', { class: 'kv' }, pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

async function viewApp(appid) {
  const main = $('#main');
  const seq = viewSeq;
  const title = heading('小程序', 'Mini program');
  const alerts = h('div', { id: 'app-alerts' });
  const result = h('div', { id: 'action-result', 'aria-live': 'polite' });
  const summary = h('div', { class: 'cards', id: 'app-summary' });
  const actions = h('section', { class: 'card', id: 'app-actions', 'aria-labelledby': 'actions-h' });
  const history = h('section', { class: 'card wide', id: 'audit-history', 'aria-labelledby': 'history-h' });
  const more = h('div', { class: 'cards', id: 'app-more' });
  const filingCard = h('section', { class: 'card wide', id: 'filing-card', 'aria-labelledby': 'filing-h' });
  main.append(h('p', {}, h('a', { href: '#/authorizers' }, '← 授权账号 Authorizers')), title, alerts,
    summary, h('div', { class: 'cards section' }, filingCard), h('div', { class: 'cards section' }, actions), h('div', { class: 'cards section' }, history), more);

  let app = await get(`/ops/apps/${appid}`);
  let quota = null;
  try {
    quota = app.status === 'authorized' ? await get(`/ops/quota?appid=${appid}`) : null;
  } catch (e) {
    quota = null; // the guards fall back on the API's own refusal
  }
  if (seq !== viewSeq) return;
  title.replaceChildren(app.nick_name || app.appid, h('small', { lang: 'en' }, `Mini program ${app.appid}`));
  focusHeading();

  // Actions: built once (forms keep what is typed); their guards are refreshed with the app.
  const guardSlots = {};
  const buttons = {};
  const ROUTE_OF = {
    commit: ['POST', '/ops/apps/{appid}/commit'],
    submit: ['POST', '/ops/apps/{appid}/audits'],
    release: ['POST', '/ops/apps/{appid}/release'],
    undo: ['POST', '/ops/apps/{appid}/audits/latest/undo'],
    speedup: ['POST', '/ops/apps/{appid}/audits/latest/speedup'],
  };
  function guarded(name, zh, en, onclick, cls) {
    const [method, route] = ROUTE_OF[name];
    if (!may(method, route)) {
      // Kept off the page; the guards still have something to update.
      guardSlots[name] = h('p');
      buttons[name] = h('button');
      return missing(name, method, route);
    }
    const why = h('p', { class: 'why', id: `why-${name}` });
    const btn = h('button', { type: onclick ? 'button' : 'submit', id: `btn-${name}`, class: cls || null,
      'aria-describedby': `why-${name}`, onclick }, bi(zh, en));
    guardSlots[name] = why;
    buttons[name] = btn;
    return [btn, why];
  }
  async function act(label, fn) {
    show(result, h('p', { class: 'muted' }, `${label[0]}… ${label[1]}…`));
    result.scrollIntoView({ block: 'nearest' });
    try {
      const v = (await fn()) || {};
      const facts = [v.auditid ? `#${v.auditid}` : '', v.user_version || '', v.status || ''].filter(Boolean).join(' · ');
      show(result, okBox(`${label[0]}：完成 ${facts}`, `${label[1]}: done ${facts}`));
      await refresh(true);
    } catch (e) {
      show(result, errorBox(e));
      await refresh(true).catch(() => {});
    }
  }

  const templateSelect = h('select', { id: 'commit-template', required: true });
  const version = h('input', { id: 'commit-version', required: true, maxlength: 64, placeholder: '1.0.0' });
  const desc = h('input', { id: 'commit-desc', placeholder: '版本说明 description' });
  const ext = h('textarea', { id: 'commit-ext', spellcheck: 'false' },
    JSON.stringify({ extEnable: true, extAppid: appid, ext: {} }));
  const commitForm = h('form', { class: 'action', id: 'commit-form', onsubmit: (e) => {
    e.preventDefault();
    const extJson = extJsonIn(ext, result);
    if (!extJson) return;
    act(['提交代码', 'commit'], () => api('POST', `/ops/apps/${appid}/commit`, {
      template_id: Number(templateSelect.value), ext_json: extJson,
      user_version: version.value.trim(), user_desc: desc.value,
    }));
  } },
  h('h3', {}, bi('提交代码', 'Commit a template')),
  h('div', { class: 'form-grid' },
    h('div', { class: 'field' }, h('label', { for: 'commit-template' }, bi('模板', 'Template')), templateSelect),
    h('div', { class: 'field' }, h('label', { for: 'commit-version' }, bi('版本号', 'Version')), version),
    h('div', { class: 'field' }, h('label', { for: 'commit-desc' }, bi('版本说明', 'Description')), desc)),
  h('div', { class: 'field' }, h('label', { for: 'commit-ext' }, bi('ext_json（JSON 对象）', 'ext_json (a JSON object)')), ext),
  h('div', { class: 'row' }, guarded('commit', '提交代码', 'Commit')));

  const versionDesc = h('input', { id: 'submit-desc', placeholder: '给审核人员的说明 note for reviewers' });
  const notUse = h('input', { type: 'checkbox', id: 'submit-privacy-not-use' });
  const submitForm = h('form', { class: 'action', id: 'submit-form', onsubmit: (e) => {
    e.preventDefault();
    const body = {};
    if (versionDesc.value.trim()) body.version_desc = versionDesc.value.trim();
    if (notUse.checked) body.privacy_api_not_use = true;
    act(['提交审核', 'submit for audit'], () => api('POST', `/ops/apps/${appid}/audits`, body));
  } },
  h('h3', {}, bi('提交审核', 'Submit for audit')),
  h('div', { class: 'field' }, h('label', { for: 'submit-desc' }, bi('审核说明', 'Version description')), versionDesc),
  h('label', { class: 'check', for: 'submit-privacy-not-use' }, notUse, biSpan('代码不调用任何隐私接口', 'the code calls no privacy interface')),
  h('div', { class: 'row' }, guarded('submit', '提交审核', 'Submit')));

  const quotaLine = h('p', { class: 'muted', id: 'quota-line' });
  actions.classList.add('wide');
  actions.append(h('h2', { id: 'actions-h' }, bi('操作', 'Actions')), quotaLine, result,
    h('div', { class: 'actions' }, commitForm, submitForm,
      h('div', { class: 'action' }, h('h3', {}, bi('审核与发布', 'Audit and release')),
        h('div', { class: 'row' },
          guarded('release', '发布', 'Release', () => act(['发布', 'release'], () => api('POST', `/ops/apps/${appid}/release`, {}))),
          guarded('undo', '撤回审核', 'Undo audit', () => act(['撤回审核', 'undo audit'], () => api('POST', `/ops/apps/${appid}/audits/latest/undo`)), 'secondary'),
          guarded('speedup', '加急审核', 'Speed up', () => act(['加急审核', 'speed up'], () => api('POST', `/ops/apps/${appid}/audits/latest/speedup`)), 'secondary')))));

  get('/ops/templates').then((t) => {
    const list = t.templates || [];
    templateSelect.replaceChildren(...list.map((x) => h('option', { value: x.template_id },
      `#${x.template_id} ${x.user_version || ''} ${x.user_desc || ''}`.trim())));
    if (!list.length) templateSelect.append(h('option', { value: '' }, '模板库为空 library empty'));
  }).catch((e) => show(result, errorBox(e)));

  function renderSummary() {
    const la = app.latest_audit;
    const warn = [];
    if (!app.development_permission) {
      warn.push(h('div', { class: 'box warn-box', id: 'warn-set-18', role: 'alert' },
        h('p', {}, h('strong', {}, '缺少权限集 18（开发管理与数据分析）：无法提交代码、审核和发布。请发送新的邀请让商家重新授权。')),
        h('p', { class: 'en', lang: 'en' }, 'Permission set 18 (development management) is missing: code management is refused. Send a new invitation for the merchant to authorize again.')));
    }
    if (app.token && app.token.needs_reauthorization) {
      warn.push(h('div', { class: 'box error-box', role: 'alert' }, h('p', {}, '令牌失效，商家需要重新授权。'),
        h('p', { class: 'en', lang: 'en' }, 'The token was refused: the merchant must authorize again.')));
    }
    for (const b of app.pending_batches || []) {
      warn.push(h('div', { class: 'box warn-box' }, h('p', {}, '该小程序在进行中的批量里：', h('a', { href: `#/batches/${b.batch_id}` }, `${(ACTIONS[b.action] || [b.action])[0]} ${b.batch_id}`), ` (${(STATUS[b.state] || [b.state])[0]})`),
        h('p', { class: 'en', lang: 'en' }, `In a running batch: ${b.action}, ${b.state}`)));
    }
    alerts.replaceChildren(...warn);

    const t = app.token || {};
    const v = app.versions || {};
    const ver = (x) => (x ? [h('strong', {}, x.user_version || '?'), ' ', h('span', { class: 'muted' }, `${x.desc || ''} ${fmtTime(x.time)}`)] : '—');
    summary.replaceChildren(
      h('section', { class: 'card', 'aria-label': '概况 Profile' }, h('h2', {}, bi('概况', 'Profile')), kv([
        [biSpan('状态', 'Status'), badge(app.status)],
        [biSpan('客户', 'Customer'), app.customer_id || '—'],
        [biSpan('主体', 'Principal'), app.principal_name || '—'],
        [biSpan('原始 ID', 'Original id'), h('span', { class: 'mono' }, app.user_name || '—')],
        [biSpan('授权时间', 'Authorized'), fmtTime(app.authorized_at)],
        [biSpan('权限集', 'Permission sets'), h('ul', { id: 'func-info' }, (app.func_info || []).map((id) => {
          const [zh, en] = FUNC_SETS[id] || [`权限集 ${id}`, `set ${id}`];
          return h('li', {}, `${id} ${zh} `, h('small', { lang: 'en' }, en));
        }))],
      ])),
      h('section', { class: 'card', 'aria-label': '令牌 Token health' }, h('h2', {}, bi('令牌健康', 'Token health')), kv([
        [biSpan('状态', 'State'), t.needs_reauthorization ? badge('needs_reauthorization')
          : t.has_refresh_token ? h('span', { class: 'badge ok', id: 'token-ok' }, '正常 ok') : h('span', { class: 'badge failed' }, '无刷新令牌 no refresh token')],
        [biSpan('访问令牌到期', 'Access token expires'), fmtTime(t.access_expires_at)],
        [biSpan('上次刷新', 'Last refreshed'), fmtTime(t.refreshed_at)],
      ])),
      h('section', { class: 'card', id: 'versions-card', 'aria-label': '版本 Versions' }, h('h2', {}, bi('版本', 'Versions')),
        v.error ? h('p', { class: 'error-line' }, '微信未能返回版本 ', h('small', { lang: 'en' }, v.error)) : null,
        kv([
          [biSpan('阶段', 'Stage'), h('span', { id: 'lifecycle-stage' }, stageText(app.lifecycle))],
          [biSpan('线上版本', 'Online'), h('span', { id: 'online-version' }, ver(v.online))],
          [biSpan('体验版', 'Experience'), h('span', { id: 'experience-version' }, ver(v.experience))],
          [biSpan('最近提交', 'Last commit'), app.last_commit ? `#${app.last_commit.template_id} ${app.last_commit.user_version || ''} · ${fmtTime(app.last_commit.at)}` : '—'],
          [biSpan('最新审核', 'Latest audit'), h('span', { id: 'latest-audit' }, la ? [badge(la.status), ' ', h('span', { class: 'mono' }, `#${la.auditid}`), ' ', la.user_version || '', la.released_at ? [' ', h('span', { class: 'badge done' }, '已发布 released')] : null] : '—')],
        ])),
    );
    const g = guards(app, quota);
    for (const [name, why] of Object.entries(g)) {
      buttons[name].disabled = !!why;
      guardSlots[name].replaceChildren(...(why ? bi(why[0], why[1]) : []));
    }
    quotaLine.replaceChildren(...(quota
      ? bi(`本月审核额度：剩余 ${quota.rest} / ${quota.limit}；加急剩余 ${quota.speedup_rest} / ${quota.speedup_limit}`,
        `Audit quota this month: ${quota.rest} of ${quota.limit} left; speed-ups ${quota.speedup_rest} of ${quota.speedup_limit}`)
      : []));
  }

  async function loadHistory() {
    try {
      const page = await get(`/ops/apps/${appid}/audits?limit=20`);
      history.replaceChildren(h('h2', { id: 'history-h' }, bi('审核记录', 'Audit history')),
        h('div', { class: 'table-wrap' }, h('table', { id: 'audit-table' },
          h('thead', {}, h('tr', {}, h('th', {}, 'auditid'), h('th', {}, bi('状态', 'Status')), h('th', {}, bi('版本', 'Version')),
            h('th', {}, bi('提交时间', 'Submitted')), h('th', {}, bi('驳回原因与截图', 'Rejection reason, screenshots')), h('th', {}, bi('发布', 'Released')))),
          h('tbody', {}, page.items.length ? page.items.map((r) => h('tr', { 'data-auditid': r.auditid },
            h('td', { class: 'mono' }, r.auditid), h('td', {}, badge(r.status)), h('td', {}, r.user_version || '—'),
            h('td', {}, fmtTime(r.submitted_at)),
            h('td', {}, r.reason ? h('div', { class: 'reason' }, r.reason) : '—',
              (r.screenshots || []).length ? h('div', { class: 'muted' }, '截图 media_id screenshots: ', r.screenshots.map((m) => h('code', {}, m, ' '))) : null),
            h('td', {}, r.released_at ? fmtTime(r.released_at) : '—')))
            : h('tr', {}, h('td', { colspan: 6, class: 'muted' }, '还没有审核 no audit yet'))))));
    } catch (e) {
      history.replaceChildren(h('h2', { id: 'history-h' }, bi('审核记录', 'Audit history')), errorBox(e));
    }
  }

  /** The filing panel: the stage beside the code stage, the reasons of a rejection with each
   *  field's suggestion, the SMS check, the record number. */
  function renderFiling(f) {
    const head = h('h2', { id: 'filing-h' }, bi('备案', 'ICP filing'));
    if (!f) {
      filingCard.replaceChildren(head, h('p', { class: 'muted' }, '加载中… loading…'));
      return;
    }
    const reasons = (f.reasons || []).length
      ? h('table', { id: 'filing-reasons' },
        h('thead', {}, h('tr', {}, h('th', {}, bi('字段', 'Field')), h('th', {}, bi('原因', 'Reason')), h('th', {}, bi('修改建议', 'Suggestion')))),
        h('tbody', {}, f.reasons.map((r) => h('tr', {}, h('td', {}, r.key_name || '—'), h('td', {}, r.error || '—'), h('td', { class: 'suggest' }, r.suggest || '—')))))
      : null;
    const sms = f.sms_verify ? (SMS[f.sms_verify] || [f.sms_verify, f.sms_verify]) : null;
    filingCard.replaceChildren(head, kv([
      [biSpan('状态', 'Status'), h('span', { id: 'filing-status' }, filingBadge(f.status), ' ', h('span', { class: 'muted mono' }, `(${f.wechat_status})`))],
      (f.missing || []).length ? [biSpan('缺少', 'Missing'), h('span', { id: 'filing-missing' }, f.missing.map((m) => biSpan(...(MISSING[m] || [m, m]))))] : null,
      sms ? [biSpan('短信核验', 'SMS check'), h('span', { id: 'filing-sms', class: f.sms_verify === 'done' ? '' : 'why' }, biSpan(sms[0], sms[1]))] : null,
      [biSpan('备案号', 'Record number'), h('span', { id: 'filing-record', class: 'mono' }, f.record_number || '—')],
      [biSpan('查询时间', 'Checked'), fmtTime(f.checked_at)],
    ]), reasons ? h('h3', {}, bi('驳回原因', 'Rejection reasons')) : null, reasons,
    f.status === 'filed' ? null : h('p', { class: 'muted' }, h('small', {}, '未完成备案的小程序不能发布上线。'), h('small', { lang: 'en' }, ' An app not filed may not go live: releases are refused.')));
  }
  async function loadFiling() {
    if (!may('GET', '/ops/apps/{appid}/filing')) {
      filingCard.replaceChildren(missing('filing', 'GET', '/ops/apps/{appid}/filing'));
      return;
    }
    renderFiling(app.filing);
    try {
      const f = await get(`/ops/apps/${appid}/filing`);
      if (seq !== viewSeq) return;
      app.filing = f;
      renderFiling(f);
      renderSummary();
    } catch (e) {
      filingCard.replaceChildren(h('h2', { id: 'filing-h' }, bi('备案', 'ICP filing')), errorBox(e));
    }
  }

  let lastStatus = null;
  async function refresh(force) {
    const fresh = await get(`/ops/apps/${appid}`);
    if (seq !== viewSeq) return;
    app = fresh;
    if (app.filing) renderFiling(app.filing);
    if (force && app.status === 'authorized') {
      quota = await get(`/ops/quota?appid=${appid}`).catch(() => quota);
    }
    const status = app.latest_audit ? `${app.latest_audit.auditid}:${app.latest_audit.status}:${app.latest_audit.released_at}` : '';
    renderSummary();
    if (force || status !== lastStatus) {
      lastStatus = status;
      await loadHistory();
    }
  }

  lastStatus = app.latest_audit ? `${app.latest_audit.auditid}:${app.latest_audit.status}:${app.latest_audit.released_at}` : '';
  renderSummary();
  await loadFiling();
  await loadHistory();
  // While an audit is pending, WeChat's push may land any moment: the page follows it.
  poll(3000, async () => {
    if (isPending(app.latest_audit)) await refresh(false);
  });

  // The rest comes from WeChat, each part on its own.
  const part = (id, zh, en, load) => {
    const card = h('section', { class: 'card', id }, h('h2', {}, bi(zh, en)), h('p', { class: 'muted' }, '加载中… loading…'));
    more.append(card);
    load().then((nodes) => card.replaceChildren(h('h2', {}, bi(zh, en)), ...[nodes].flat()))
      .catch((e) => card.replaceChildren(h('h2', {}, bi(zh, en)), errorBox(e)));
  };
  const list = (xs, empty) => (xs && xs.length ? h('ul', {}, xs.map((x) => h('li', { class: 'mono' }, x))) : h('p', { class: 'muted' }, empty));
  part('violations-card', '违规与处罚', 'Violations and penalties', () => violationsPanel(appid));
  if (app.status !== 'authorized') return;
  part('profile-card', '资料', 'Profile', async () => profilePanel(appid));
  part('api-quota-card', '接口调用额度', 'Daily API quota', async () => quotaPanel(appid));
  part('qr-card', '体验版二维码', 'Trial QR code', async () => {
    const img = h('img', { id: 'qrcode', alt: '体验版二维码 trial version QR code' });
    const box = h('div', { class: 'qr' });
    const button = h('button', { type: 'button', id: 'show-qr', class: 'secondary', onclick: async () => {
      try {
        const blob = await api('GET', `/ops/apps/${appid}/qrcode`);
        if (img.src) URL.revokeObjectURL(img.src);
        img.src = URL.createObjectURL(blob);
        box.replaceChildren(img);
      } catch (e) {
        box.replaceChildren(errorBox(e) || '');
      }
    } }, bi('显示二维码', 'Show QR code'));
    return [button, box];
  });
  // A mini program code (POST /ops/apps/{appid}/wxacode): the unlimited kind by scene, or one of
  // the app's 100,000 limited codes by path; shown, and saved with its link.
  part('wxacode-card', '小程序码', 'Mini program code', async () => {
    const route = '/ops/apps/{appid}/wxacode';
    if (!may('POST', route)) return missing('wxacode', 'POST', route);
    const kind = h('select', { id: 'wxacode-kind' },
      h('option', { value: 'unlimited' }, '不限数量 unlimited'),
      h('option', { value: 'limited' }, '有限数量 limited'),
      h('option', { value: 'qrcode' }, '二维码 QR code'));
    const scene = h('input', { id: 'wxacode-scene', maxlength: 32, placeholder: 'order=42' });
    const page = h('input', { id: 'wxacode-page', placeholder: 'pages/index/index' });
    const path = h('input', { id: 'wxacode-path', maxlength: 1024, placeholder: 'pages/index/index?order=42' });
    const width = h('input', { id: 'wxacode-width', type: 'number', min: 280, max: 1280, placeholder: '430' });
    const env = h('select', { id: 'wxacode-env' },
      h('option', { value: 'release' }, '正式版 release'), h('option', { value: 'trial' }, '体验版 trial'),
      h('option', { value: 'develop' }, '开发版 develop'));
    const checkPath = h('input', { type: 'checkbox', id: 'wxacode-check-path', checked: true });
    const hyaline = h('input', { type: 'checkbox', id: 'wxacode-hyaline' });
    const out = h('div', { class: 'qr', id: 'wxacode-out', 'aria-live': 'polite' });
    const fields = {
      scene: h('div', { class: 'field' }, h('label', { for: 'wxacode-scene' }, bi('场景值', 'Scene')), scene),
      page: h('div', { class: 'field' }, h('label', { for: 'wxacode-page' }, bi('页面', 'Page')), page),
      path: h('div', { class: 'field' }, h('label', { for: 'wxacode-path' }, bi('路径（含参数）', 'Path with its query')), path),
      env: h('div', { class: 'field' }, h('label', { for: 'wxacode-env' }, bi('版本', 'Version')), env),
      checkPath: h('label', { class: 'check', for: 'wxacode-check-path' }, checkPath, biSpan('检查页面已发布', 'the page must be released')),
      hyaline: h('label', { class: 'check', for: 'wxacode-hyaline' }, hyaline, biSpan('透明底色', 'transparent background')),
    };
    // Each kind shows only the fields it takes (the API refuses the others).
    const takes = { unlimited: ['scene', 'page', 'env', 'checkPath', 'hyaline'], limited: ['path', 'env', 'hyaline'], qrcode: ['path'] };
    const relayout = () => {
      for (const [name, node] of Object.entries(fields)) node.hidden = !takes[kind.value].includes(name);
    };
    kind.addEventListener('change', relayout);
    relayout();
    const form = h('form', { class: 'action', id: 'wxacode-form', onsubmit: async (e) => {
      e.preventDefault();
      const k = kind.value;
      const body = k === 'unlimited' ? { scene: scene.value.trim() } : { kind: k, path: path.value.trim() };
      if (k === 'unlimited') {
        if (page.value.trim()) body.page = page.value.trim();
        if (!checkPath.checked) body.check_path = false;
      }
      if (k !== 'qrcode') {
        if (env.value !== 'release') body.env_version = env.value;
        if (hyaline.checked) body.is_hyaline = true;
      }
      if (width.value) body.width = Number(width.value);
      try {
        const blob = await api('POST', `/ops/apps/${appid}/wxacode`, body);
        const url = URL.createObjectURL(blob);
        const old = out.querySelector('img');
        if (old && old.src) URL.revokeObjectURL(old.src);
        const ext = (blob.type || '').includes('jpeg') ? 'jpg' : 'png';
        out.replaceChildren(h('img', { id: 'wxacode-image', src: url, alt: '小程序码 mini program code' }),
          h('p', {}, h('a', { href: url, download: `${appid}-${k}.${ext}`, id: 'wxacode-download' }, bi('下载图片', 'Download the image'))));
      } catch (err) {
        out.replaceChildren(errorBox(err) || '');
      }
    } },
    h('div', { class: 'form-grid' },
      h('div', { class: 'field' }, h('label', { for: 'wxacode-kind' }, bi('类型', 'Kind')), kind),
      fields.scene, fields.page, fields.path, fields.env,
      h('div', { class: 'field narrow' }, h('label', { for: 'wxacode-width' }, bi('宽度（像素）', 'Width (px)')), width)),
    fields.checkPath, fields.hyaline,
    h('p', { class: 'muted' }, bi('有限数量的两种码每个小程序共 100,000 个，用完不再恢复。', 'The two limited kinds share 100,000 codes per app, for good.')),
    h('div', { class: 'row' }, h('button', { type: 'submit', id: 'wxacode-make' }, bi('生成小程序码', 'Make the code'))));
    return [form, out];
  });
  part('history-versions', '可回退版本', 'Versions to roll back to', async () => {
    const v = await get(`/ops/apps/${appid}/versions`);
    const xs = v.versions || [];
    return xs.length ? h('ul', {}, xs.map((x) => h('li', {}, h('strong', {}, x.user_version), ` (app_version ${x.app_version}) ${x.user_desc || ''} · ${fmtTime(x.commit_time)}`)))
      : h('p', { class: 'muted' }, '没有可回退的版本 none');
  });
  part('domains-card', '服务器域名', 'Server domains', async () => {
    const d = await get(`/ops/apps/${appid}/domains`);
    return kv(['requestdomain', 'wsrequestdomain', 'uploaddomain', 'downloaddomain', 'udpdomain', 'tcpdomain']
      .map((k) => [k, list(d[k], '—')]));
  });
  part('webview-card', '业务域名', 'Web-view domains', async () => {
    const d = await get(`/ops/apps/${appid}/webview-domains`);
    return list(d.webviewdomain, '未设置 none');
  });
  part('testers-card', '体验成员', 'Testers', async () => {
    const t = await get(`/ops/apps/${appid}/testers`);
    return list((t.members || []).map((m) => m.userstr), '没有体验成员 none');
  });
  part('activity-card', '操作记录', 'Activity', async () => {
    const a = await get(`/ops/apps/${appid}/activity?limit=10`);
    return a.items.length ? h('ul', {}, a.items.map((x) => h('li', {}, `${fmtTime(x.at)} · ${x.action}`,
      x.user_version ? ` ${x.user_version}` : '', x.auditid ? ` #${x.auditid}` : '', h('small', { class: 'muted' }, ` ${x.operator}`))))
      : h('p', { class: 'muted' }, '没有记录 none');
  });
}

// ---------------------------------------------------------------- templates

async function viewTemplates() {
  const main = $('#main');
  const result = h('div', { id: 'template-result', 'aria-live': 'polite' });
  const drafts = h('section', { class: 'card', id: 'drafts' });
  const library = h('section', { class: 'card', id: 'library' });
  main.append(heading('模板', 'Templates'), result, h('div', { class: 'cards' }, drafts, library));
  focusHeading();

  async function load() {
    const [d, t] = await Promise.allSettled([get('/ops/template-drafts'), get('/ops/templates')]);
    drafts.replaceChildren(h('h2', {}, bi('草稿箱', 'Drafts')), d.status === 'rejected' ? errorBox(d.reason)
      : h('div', { class: 'table-wrap' }, h('table', { id: 'draft-table' },
        h('thead', {}, h('tr', {}, h('th', {}, 'draft_id'), h('th', {}, bi('版本', 'Version')), h('th', {}, bi('说明', 'Description')), h('th', {}, bi('上传时间', 'Uploaded')), h('th', {}, ''))),
        h('tbody', {}, (d.value.drafts || []).map((x) => h('tr', { 'data-draft': x.draft_id },
          h('td', { class: 'mono' }, x.draft_id), h('td', {}, x.user_version || ''), h('td', {}, x.user_desc || ''), h('td', {}, fmtTime(x.create_time)),
          h('td', {}, !may('POST', '/ops/templates') ? missing(`add-draft-${x.draft_id}`, 'POST', '/ops/templates') : h('button', { type: 'button', class: 'secondary', id: `add-draft-${x.draft_id}`, onclick: async () => {
            try {
              await api('POST', '/ops/templates', { draft_id: x.draft_id, template_type: 0 });
              show(result, okBox(`草稿 ${x.draft_id} 已加入模板库`, `draft ${x.draft_id} added to the library`));
              await load();
            } catch (e) {
              show(result, errorBox(e));
            }
          } }, bi('加入模板库', 'Add to library')))))))));
    library.replaceChildren(h('h2', {}, bi('模板库', 'Template library')), t.status === 'rejected' ? errorBox(t.reason)
      : h('div', { class: 'table-wrap' }, h('table', { id: 'template-table' },
        h('thead', {}, h('tr', {}, h('th', {}, 'template_id'), h('th', {}, bi('版本', 'Version')), h('th', {}, bi('说明', 'Description')), h('th', {}, bi('创建时间', 'Created')))),
        h('tbody', {}, (t.value.templates || []).map((x) => h('tr', { 'data-template': x.template_id },
          h('td', { class: 'mono' }, x.template_id), h('td', {}, x.user_version || ''), h('td', {}, x.user_desc || ''), h('td', {}, fmtTime(x.create_time))))))));
  }
  await load();
}

// ---------------------------------------------------------------- batches

async function viewBatches() {
  const main = $('#main');
  const result = h('div', { id: 'batch-result', 'aria-live': 'polite' });
  const recent = h('section', { class: 'card wide', id: 'recent-batches' });
  const n = state.selected.size;
  let idempotencyKey = crypto.randomUUID(); // one per batch request; kept when a send is retried

  const action = h('select', { id: 'batch-action' }, Object.entries(ACTIONS).map(([v, [zh, en]]) => h('option', { value: v }, `${zh} ${en}`)));
  const targetSelected = h('input', { type: 'radio', name: 'targets', id: 'targets-selected', value: 'selected', checked: n > 0, disabled: n === 0 });
  const targetAll = h('input', { type: 'radio', name: 'targets', id: 'targets-all', value: 'all', checked: n === 0 });
  const template = h('select', { id: 'batch-template' });
  const version = h('input', { id: 'batch-version', placeholder: '1.0.0', maxlength: 64 });
  const desc = h('input', { id: 'batch-desc' });
  const ext = h('textarea', { id: 'batch-ext', spellcheck: 'false' }, JSON.stringify({ extEnable: true, ext: {} }));
  const versionDesc = h('input', { id: 'batch-version-desc' });
  const upToQuota = h('input', { type: 'checkbox', id: 'batch-up-to-quota' });
  const commitFields = h('div', { class: 'form-grid', id: 'batch-commit-fields' },
    h('div', { class: 'field' }, h('label', { for: 'batch-template' }, bi('模板', 'Template')), template),
    h('div', { class: 'field' }, h('label', { for: 'batch-version' }, bi('版本号', 'Version')), version),
    h('div', { class: 'field' }, h('label', { for: 'batch-desc' }, bi('版本说明', 'Description')), desc),
    h('div', { class: 'field', style: null }, h('label', { for: 'batch-ext' }, bi('ext_json（所有小程序相同）', 'ext_json (the same for every app)')), ext));
  const submitFields = h('div', { class: 'form-grid', id: 'batch-submit-fields' },
    h('div', { class: 'field' }, h('label', { for: 'batch-version-desc' }, bi('审核说明', 'Version description')), versionDesc),
    h('label', { class: 'check', for: 'batch-up-to-quota' }, upToQuota, biSpan('额度不足时只提交额度内的前几个', 'when the quota is short, submit as many as it allows')));
  const quotaLine = h('p', { class: 'muted', id: 'batch-quota' });
  const why = h('p', { class: 'why', id: 'why-start-batch' });
  const start = may('POST', '/ops/batches')
    ? h('button', { type: 'submit', id: 'start-batch', 'aria-describedby': 'why-start-batch' }, bi('开始批量', 'Start batch'))
    : missing('start-batch', 'POST', '/ops/batches');
  let quota = null;

  function update() {
    const a = action.value;
    commitFields.hidden = a !== 'commit';
    submitFields.hidden = a !== 'submit_audit';
    const count = targetSelected.checked ? state.selected.size : null;
    let reason = null;
    if (a === 'submit_audit' && quota && count !== null && count > quota.rest && !upToQuota.checked) {
      reason = [`审核额度不足：剩余 ${quota.rest}，需要 ${count}`, `audit quota: ${quota.rest} left, ${count} needed`];
    }
    if (a === 'submit_audit' && quota && quota.rest <= 0) {
      reason = [`本月审核额度已用完（共 ${quota.limit}）`, `the monthly audit quota is used up (of ${quota.limit})`];
    }
    start.disabled = !!reason;
    why.replaceChildren(...(reason ? bi(reason[0], reason[1]) : []));
    quotaLine.replaceChildren(...(a === 'submit_audit' && quota
      ? bi(`本月审核额度：剩余 ${quota.rest} / ${quota.limit}`, `audit quota this month: ${quota.rest} of ${quota.limit} left`) : []));
  }
  for (const el of [action, targetSelected, targetAll, upToQuota]) el.addEventListener('change', () => { idempotencyKey = crypto.randomUUID(); update(); });

  const form = h('form', { class: 'card wide', id: 'batch-form', onsubmit: async (e) => {
    e.preventDefault();
    const a = action.value;
    const body = { action: a, appids: targetSelected.checked ? [...state.selected] : 'all_authorized' };
    if (a === 'commit') {
      const extJson = extJsonIn(ext, result);
      if (!extJson) return;
      body.params = { template_id: Number(template.value), ext_json: extJson, user_version: version.value.trim(), user_desc: desc.value };
    } else if (a === 'submit_audit') {
      body.params = versionDesc.value.trim() ? { version_desc: versionDesc.value.trim() } : {};
      if (upToQuota.checked) body.up_to_quota = true;
    }
    start.disabled = true;
    show(result, h('p', { class: 'muted' }, '提交中… sending…'));
    try {
      const r = await api('POST', '/ops/batches', body, { 'Idempotency-Key': idempotencyKey });
      location.hash = `#/batches/${r.batch_id}`;
    } catch (err) {
      show(result, errorBox(err));
      if (!(err instanceof ApiError && err.status === 0)) idempotencyKey = crypto.randomUUID();
      update();
    }
  } },
  h('h2', {}, bi('新的批量', 'New batch')),
  h('div', { class: 'form-grid' },
    h('div', { class: 'field' }, h('label', { for: 'batch-action' }, bi('操作', 'Action')), action),
    h('fieldset', { class: 'field' }, h('legend', {}, bi('小程序', 'Apps')),
      h('label', { class: 'check', for: 'targets-selected' }, targetSelected, biSpan(`授权账号列表中所选的 ${n} 个`, `the ${n} selected in the authorizer list`)),
      h('label', { class: 'check', for: 'targets-all' }, targetAll, biSpan('全部已授权的小程序', 'every authorized app')))),
  commitFields, submitFields, quotaLine, h('div', { class: 'row' }, start), why);

  main.append(heading('批量', 'Batches'), result, form, h('div', { class: 'cards', style: null }, recent));
  focusHeading();
  update();

  get('/ops/templates').then((t) => {
    template.replaceChildren(...(t.templates || []).map((x) => h('option', { value: x.template_id }, `#${x.template_id} ${x.user_version || ''}`)));
  }).catch(() => {});
  get('/ops/quota').then((q) => { quota = q; update(); }).catch(() => {});

  try {
    const page = await get('/ops/batches?limit=20');
    recent.replaceChildren(h('h2', {}, bi('最近的批量', 'Recent batches')), h('div', { class: 'table-wrap' }, h('table', { id: 'batch-table' },
      h('thead', {}, h('tr', {}, h('th', {}, bi('批量', 'Batch')), h('th', {}, bi('操作', 'Action')), h('th', {}, bi('小程序数', 'Apps')),
        h('th', {}, bi('状态', 'Status')), h('th', { class: 'hide-narrow' }, bi('运营', 'Operator')), h('th', {}, bi('创建时间', 'Created')))),
      h('tbody', {}, page.items.length ? page.items.map((b) => h('tr', {},
        h('td', {}, h('a', { href: `#/batches/${b.batch_id}`, class: 'mono' }, b.batch_id.slice(0, 20))),
        h('td', {}, (ACTIONS[b.action] || [b.action])[0]), h('td', {}, b.apps),
        h('td', {}, badge(b.finished_at ? 'done' : 'running')), h('td', { class: 'hide-narrow mono' }, b.operator), h('td', {}, fmtTime(b.created_at))))
        : h('tr', {}, h('td', { colspan: 6, class: 'muted' }, '还没有批量 none yet'))))));
  } catch (e) {
    recent.replaceChildren(errorBox(e) || '');
  }
}

function outcome(item) {
  const d = item.detail || {};
  if (item.state === 'ok') {
    const parts = [];
    if (d.auditid) parts.push(`审核 audit #${d.auditid}`);
    if (d.user_version) parts.push(`${d.user_version}`);
    if (d.status) parts.push(d.status);
    if (d.reconciled) parts.push('(reconciled)');
    return parts.join(' · ');
  }
  if (item.state === 'skipped' || item.state === 'failed') {
    return [h('strong', {}, ERROR_ZH[d.error] || '未执行'), ' ', h('span', { class: 'code-chip' }, d.error || ''),
      h('div', { class: 'muted', lang: 'en' }, d.message || ''),
      d.errcode !== undefined ? h('div', {}, `errcode ${d.errcode}${d.errmsg ? `: ${d.errmsg}` : ''}`) : null,
      d.hint ? h('div', { class: 'hint' }, '提示：', d.hint_zh || HINT_ZH[d.errcode] || HINT_ZH_BY_ERROR[d.error] || '', h('small', { lang: 'en' }, ` Hint: ${d.hint}`)) : null];
  }
  return '';
}

async function viewBatch(id) {
  const main = $('#main');
  const title = heading('批量', 'Batch');
  const head = h('div', { id: 'batch-head' });
  const progress = h('div', { class: 'progress', id: 'batch-progress-box' });
  const items = h('div', { id: 'batch-items' });
  main.append(h('p', {}, h('a', { href: '#/batches' }, '← 批量 Batches')), title, head, progress, items);
  let first = true;

  async function load() {
    const b = await get(`/ops/batches/${enc(id)}`);
    const [zh, en] = ACTIONS[b.action] || [b.action, b.action];
    title.replaceChildren(`批量${zh}`, h('small', { lang: 'en' }, `Batch: ${en}`));
    if (first) { focusHeading(); first = false; }
    head.replaceChildren(kv([
      ['batch_id', h('span', { class: 'mono' }, b.batch_id)],
      [biSpan('状态', 'Status'), h('span', { id: 'batch-status' }, badge(b.status))],
      [biSpan('运营', 'Operator'), h('span', { class: 'mono' }, b.operator)],
      [biSpan('创建', 'Created'), fmtTime(b.created_at)],
      [biSpan('完成', 'Finished'), fmtTime(b.finished_at)],
    ]));
    const c = b.counts;
    const done = c.ok + c.skipped + c.failed;
    progress.replaceChildren(
      h('label', { for: 'batch-progress' }, `进度 ${done} / ${b.total}`, h('small', { lang: 'en' }, `Progress ${done} of ${b.total}`)),
      h('progress', { id: 'batch-progress', max: b.total || 1, value: done }, `${done}/${b.total}`),
      h('div', { class: 'counts', id: 'batch-counts' }, ['ok', 'skipped', 'failed', 'running', 'pending']
        .map((s) => h('span', { class: `badge ${s}`, 'data-count': s }, `${STATUS[s][0]} ${STATUS[s][1]}: ${c[s]}`))));
    const order = { failed: 0, skipped: 1, running: 2, pending: 3, ok: 4 };
    const sorted = [...b.items].sort((x, y) => order[x.state] - order[y.state]);
    items.replaceChildren(h('div', { class: 'table-wrap' }, h('table', { id: 'batch-item-table', class: 'stack' },
      h('thead', {}, h('tr', {}, h('th', {}, 'AppID'), h('th', {}, bi('结果', 'Outcome')), h('th', {}, bi('详情', 'Detail')), h('th', { class: 'hide-narrow' }, bi('时间', 'At')))),
      h('tbody', {}, sorted.map((i) => h('tr', { 'data-appid': i.appid, 'data-state': i.state },
        h('td', { class: 'name-cell' }, h('a', { href: `#/apps/${i.appid}`, class: 'mono' }, i.appid)), h('td', { 'data-label': '结果 Outcome' }, badge(i.state)),
        h('td', { 'data-label': '详情 Detail' }, outcome(i)), h('td', { class: 'hide-narrow' }, fmtTime(i.at))))))));
    return b.status !== 'done';
  }
  if (await load()) poll(1000, load);
}

// ---------------------------------------------------------------- invitations

/** Copies to the clipboard; without permission (or no answer within a second) the text is
 * selected in `input` for the operator to copy. Answers whether it was copied. */
async function copyText(text, input) {
  try {
    await Promise.race([
      navigator.clipboard.writeText(text),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no answer')), 1000)),
    ]);
    return true;
  } catch (e) {
    input.focus();
    input.select();
    try {
      return document.execCommand('copy');
    } catch (err) {
      return false;
    }
  }
}

async function viewInvitations() {
  const main = $('#main');
  const result = h('div', { id: 'invitation-result', 'aria-live': 'polite' });
  const listSlot = h('section', { class: 'card wide', id: 'invitation-list' });
  const customer = h('input', { id: 'invite-customer', required: true, maxlength: 64, placeholder: 'customer_id' });
  const authType = h('select', { id: 'invite-auth-type' },
    [[2, '小程序 mini programs'], [1, '公众号 official accounts'], [3, '两者 both']].map(([v, t]) => h('option', { value: v }, t)));
  const days = h('input', { id: 'invite-days', type: 'number', min: 1, max: 30, value: 7 });
  const form = h('form', { class: 'card wide', id: 'invite-form', onsubmit: async (e) => {
    e.preventDefault();
    try {
      const inv = await api('POST', '/ops/invitations', {
        customer_id: customer.value.trim(), auth_type: Number(authType.value), expires_in: Number(days.value) * 86400,
      });
      const link = h('input', { id: 'invite-link', readonly: true, value: inv.url, 'aria-label': '邀请链接 invitation link' });
      const copied = h('span', { id: 'copied', role: 'status' });
      show(result, h('div', { class: 'box ok-box' }, h('p', {}, `已为客户 ${inv.customer_id} 创建邀请，请把链接发给商家：`),
        h('p', { class: 'en', lang: 'en' }, `Invitation for ${inv.customer_id} created: send this link to the merchant (expires ${fmtTime(inv.expires_at)}).`),
        h('div', { class: 'link-out' }, link, h('button', { type: 'button', id: 'copy-link', onclick: async () => {
          copied.replaceChildren(...(await copyText(inv.url, link)
            ? ['已复制 ', h('span', { lang: 'en' }, 'copied')]
            : ['已选中，请按 Ctrl+C 复制 ', h('span', { lang: 'en' }, 'selected: press Ctrl+C to copy')]));
        } }, bi('复制链接', 'Copy link')), copied)));
      await loadList();
    } catch (err) {
      show(result, errorBox(err));
    }
  } },
  h('h2', {}, bi('邀请商家授权', 'Invite a merchant')),
  h('div', { class: 'form-grid' },
    h('div', { class: 'field' }, h('label', { for: 'invite-customer' }, bi('客户 ID', 'Customer id')), customer),
    h('div', { class: 'field' }, h('label', { for: 'invite-auth-type' }, bi('授权类型', 'Account type')), authType),
    h('div', { class: 'field' }, h('label', { for: 'invite-days' }, bi('有效天数', 'Valid for (days)')), days)),
  h('div', { class: 'row' }, may('POST', '/ops/invitations')
    ? h('button', { type: 'submit', id: 'create-invitation' }, bi('创建邀请', 'Create invitation'))
    : missing('create-invitation', 'POST', '/ops/invitations')));
  main.append(heading('邀请', 'Invitations'), form, result, h('div', { class: 'cards' }, listSlot));
  focusHeading();

  async function loadList() {
    try {
      const page = await get('/ops/invitations?limit=50');
      listSlot.replaceChildren(h('h2', {}, bi('邀请记录', 'Invitations')), h('div', { class: 'table-wrap' }, h('table', { id: 'invitation-table' },
        h('thead', {}, h('tr', {}, h('th', {}, bi('客户', 'Customer')), h('th', {}, bi('状态', 'State')), h('th', {}, bi('到期', 'Expires')),
          h('th', { class: 'hide-narrow' }, bi('授权的小程序', 'Authorized app')), h('th', {}, ''))),
        h('tbody', {}, page.items.length ? page.items.map((i) => h('tr', { 'data-invitation': i.invitation_id },
          h('td', {}, i.customer_id), h('td', {}, badge(i.state)), h('td', {}, fmtTime(i.expires_at)),
          h('td', { class: 'hide-narrow mono' }, i.used_by ? h('a', { href: `#/apps/${i.used_by}` }, i.used_by) : '—'),
          h('td', {}, i.state === 'active' ? [h('button', { type: 'button', class: 'secondary', onclick: async () => {
            const field = h('input', { readonly: true, value: i.url, class: 'mono', 'aria-label': '邀请链接 invitation link' });
            show(result, h('div', { class: 'box ok-box' }, h('p', {}, `客户 ${i.customer_id} 的邀请链接`, h('span', { class: 'en', lang: 'en' }, `Invitation link for ${i.customer_id}`)),
              h('div', { class: 'link-out' }, field)));
            const ok = await copyText(i.url, field);
            result.firstChild.append(h('p', {}, ok ? '已复制 copied' : '已选中，请按 Ctrl+C 复制 selected: press Ctrl+C to copy'));
          } }, bi('复制', 'Copy')), ' ', h('button', { type: 'button', class: 'danger', onclick: async () => {
            try {
              await api('DELETE', `/ops/invitations/${enc(i.invitation_id)}`);
              await loadList();
            } catch (err) {
              show(result, errorBox(err));
            }
          } }, bi('撤销', 'Revoke'))] : '')))
          : h('tr', {}, h('td', { colspan: 5, class: 'muted' }, '还没有邀请 none yet'))))));
    } catch (e) {
      listSlot.replaceChildren(errorBox(e) || '');
    }
  }
  await loadList();
}

// ---------------------------------------------------------------- notifications
const EVENT_KINDS = LABELS.EVENT_KINDS;

function eventKind(kind) {
  const [zh, en] = EVENT_KINDS[kind] || [kind, kind];
  return [zh, ' ', h('small', { lang: 'en' }, en)];
}

/** The channels and rules, recent deliveries, and failures with a retry button. */
async function viewNotifications() {
  const main = $('#main');
  const result = h('div', { id: 'notification-result', 'aria-live': 'polite' });
  const rulesSlot = h('section', { class: 'card wide', id: 'notification-rules' });
  const listSlot = h('section', { class: 'card wide', id: 'notification-list' });
  const status = h('select', { id: 'notification-status', 'aria-label': '状态 status' },
    [['', '全部 all'], ['failed', '失败 failed'], ['pending', '重试中 pending'], ['delivered', '已送达 delivered'], ['unrouted', '未路由 unrouted']]
      .map(([v, t]) => h('option', { value: v }, t)));
  status.addEventListener('change', () => loadList());
  main.append(heading('通知', 'Notifications'), result, h('div', { class: 'cards' }, rulesSlot, listSlot));
  focusHeading();

  async function loadRules() {
    if (!may('GET', '/ops/notifications/rules')) {
      rulesSlot.replaceChildren(h('h2', {}, bi('渠道与规则', 'Channels and rules')), missing('notification-rules', 'GET', '/ops/notifications/rules'));
      return;
    }
    try {
      const r = await get('/ops/notifications/rules');
      const testButton = (c) => (may('POST', '/ops/notifications/test')
        ? h('button', { type: 'button', class: 'secondary', 'data-test-channel': c.name, onclick: async () => {
          try {
            const t = await api('POST', '/ops/notifications/test', { channel: c.name });
            show(result, t.delivered ? okBox(`测试消息已送达 ${c.name}`, `Test message delivered to ${c.name}`)
              : h('div', { class: 'box error-box' }, h('p', {}, `测试消息未送达 ${c.name}`), h('p', { class: 'en', lang: 'en' }, t.error || '')));
          } catch (err) {
            show(result, errorBox(err));
          }
        } }, bi('发送测试', 'Send a test'))
        : '');
      rulesSlot.replaceChildren(h('h2', {}, bi('渠道与规则', 'Channels and rules')),
        h('div', { class: 'table-wrap' }, h('table', { id: 'channel-table' },
          h('thead', {}, h('tr', {}, h('th', {}, bi('渠道', 'Channel')), h('th', {}, bi('类型', 'Kind')), h('th', {}, bi('地址', 'URL')), h('th', {}, ''))),
          h('tbody', {}, r.channels.length ? r.channels.map((c) => h('tr', { 'data-channel': c.name },
            h('td', {}, c.name), h('td', {}, c.kind), h('td', { class: 'mono' }, c.url || '—'), h('td', {}, testButton(c))))
            : h('tr', {}, h('td', { colspan: 4, class: 'muted' }, '还没有渠道 no channel yet'))))),
        h('div', { class: 'table-wrap' }, h('table', { id: 'route-table' },
          h('thead', {}, h('tr', {}, h('th', {}, bi('事件', 'Events')), h('th', {}, bi('客户', 'Customer')), h('th', {}, bi('发往', 'To')))),
          h('tbody', {}, r.routes.length ? r.routes.map((x) => h('tr', {},
            h('td', {}, x.events && x.events.length ? x.events.map((k) => h('div', {}, eventKind(k))) : bi('全部', 'all')),
            h('td', {}, x.customer_id || bi('全部', 'all')), h('td', {}, x.channel)))
            : h('tr', {}, h('td', { colspan: 3, class: 'muted' }, '没有规则：通知不会发出 no route: nothing is sent'))))),
        h('p', { class: 'note' }, '修改规则：PUT /ops/notifications/rules 或 wxopen notify rules --set rules.json',
          h('small', { lang: 'en' }, 'Change them with PUT /ops/notifications/rules or `wxopen notify rules --set rules.json`.')));
    } catch (e) {
      rulesSlot.replaceChildren(errorBox(e) || '');
    }
  }

  async function loadList() {
    try {
      const q = status.value ? `?status=${enc(status.value)}&limit=100` : '?limit=100';
      const page = await get(`/ops/notifications${q}`);
      const retry = (n) => (n.status === 'failed' && may('POST', '/ops/notifications/{id}/retry')
        ? h('button', { type: 'button', class: 'secondary', 'data-retry': n.id, onclick: async () => {
          try {
            const after = await api('POST', `/ops/notifications/${enc(n.id)}/retry`);
            show(result, after.status === 'delivered' ? okBox('已重新发送', 'Sent again')
              : h('div', { class: 'box error-box' }, h('p', {}, '仍未送达，将在 24 小时内继续重试'), h('p', { class: 'en', lang: 'en' }, 'Still not delivered: retried for another 24 hours.')));
            await loadList();
          } catch (err) {
            show(result, errorBox(err));
          }
        } }, bi('重试', 'Retry'))
        : '');
      const app = (n) => (n.event && n.event.appid ? h('a', { class: 'mono', href: `#/apps/${n.event.appid}` }, n.event.appid) : '—');
      listSlot.replaceChildren(h('h2', {}, bi('最近的通知', 'Recent notifications')), h('div', { class: 'row' }, status),
        h('div', { class: 'table-wrap' }, h('table', { id: 'notification-table' },
          h('thead', {}, h('tr', {}, h('th', {}, bi('时间', 'Time')), h('th', {}, bi('事件', 'Event')), h('th', {}, bi('小程序', 'App')),
            h('th', {}, bi('状态', 'Status')), h('th', { class: 'hide-narrow' }, bi('投递', 'Deliveries')), h('th', {}, ''))),
          h('tbody', {}, page.items.length ? page.items.map((n) => h('tr', { 'data-notification': n.id },
            h('td', {}, fmtTime(n.created_at)), h('td', {}, eventKind(n.kind)), h('td', {}, app(n)), h('td', {}, badge(n.status)),
            h('td', { class: 'hide-narrow' }, n.deliveries.map((d) => h('div', {}, `${d.channel}: `, badge(d.state),
              ` ×${d.attempts}`, d.last_error ? h('small', { class: 'muted' }, ` ${d.last_error}`) : ''))),
            h('td', {}, retry(n))))
            : h('tr', {}, h('td', { colspan: 6, class: 'muted' }, '没有通知 none'))))));
    } catch (e) {
      listSlot.replaceChildren(errorBox(e) || '');
    }
  }
  await Promise.all([loadRules(), loadList()]);
}

// ---------------------------------------------------------------- start

document.addEventListener('DOMContentLoaded', () => {
  $('#login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $('#login-key');
    const key = input.value.trim();
    input.value = '';
    if (!key) return;
    sessionStorage.setItem(KEY, key);
    startShell();
  });
  $('#logout').addEventListener('click', () => logout());
  window.addEventListener('hashchange', route);
  if (loggedIn()) startShell(); else showLogin();
});

// ---------------------------------------------------------------- violations and quota (issue 27)

const PENALTY = LABELS.PENALTY;
const APPEAL = LABELS.APPEAL;
const word = (table, k) => (table[k] || [k, k]);

/** The authorizer list's cell: how many penalties, the latest's kind. */
function penaltyCell(p) {
  if (!p || !p.count) return h('span', { class: 'muted' }, '—');
  const [zh, en] = word(PENALTY, p.latest && p.latest.kind);
  return h('span', { class: 'badge penalised', title: p.latest ? p.latest.illegal_reason : '' },
    `${p.count} · ${zh}`, ' ', h('span', { lang: 'en' }, en));
}

/** The app view's panel: the penalties and appeals pushed, and WeChat's records. */
async function violationsPanel(appid) {
  const v = await get(`/ops/apps/${appid}/violations`);
  const rows = v.penalties.map((p) => {
    const [zh, en] = word(PENALTY, p.kind);
    return h('tr', { 'data-punish-id': p.punish_id },
      h('td', {}, h('span', { class: 'badge penalised' }, zh, ' ', h('span', { lang: 'en' }, en))),
      h('td', {}, fmtTime(p.punish_time)),
      h('td', {}, p.illegal_reason, p.illegal_content ? h('div', { class: 'muted' }, p.illegal_content) : null),
      h('td', {}, p.rule_url ? h('a', { href: p.rule_url, rel: 'noopener noreferrer', target: '_blank' }, p.rule_name || p.rule_url) : (p.rule_name || '—'),
        p.adjust_guide_url ? h('div', {}, h('a', { href: p.adjust_guide_url, rel: 'noopener noreferrer', target: '_blank' }, bi('申诉及整改指引', 'appeal and rectify guide'))) : null));
  });
  const appeals = v.appeals.map((a) => {
    const [zh, en] = word(APPEAL, a.status);
    return h('li', {}, `#${a.appeal_record_id} `, zh, ' ', h('small', { lang: 'en' }, en), a.audit_reason ? ` — ${a.audit_reason}` : '');
  });
  const records = v.wechat_records || [];
  return [
    rows.length
      ? h('div', { class: 'table-wrap' }, h('table', { id: 'penalty-table' },
        h('thead', {}, h('tr', {}, h('th', {}, bi('处罚', 'Penalty')), h('th', {}, bi('时间', 'Time')),
          h('th', {}, bi('原因', 'Reason')), h('th', {}, bi('规则', 'Rule')))),
        h('tbody', {}, rows)))
      : h('p', { class: 'muted', id: 'no-penalty' }, '未收到处罚通知 ', h('small', { lang: 'en' }, 'no penalty pushed')),
    appeals.length ? h('ul', { id: 'appeal-list' }, appeals) : null,
    v.wechat_records ? h('p', { class: 'muted' }, `微信记录（近 90 天）${records.length} 条`,
      h('small', { lang: 'en' }, ` ${records.length} record(s) at WeChat, last 90 days`)) : null,
  ].filter(Boolean); // the card's replaceChildren would print a null as "null"
}

const REVIEW = {
  checking: ['审核中', 'in review'],
  approved: ['已通过', 'approved'],
  rejected: ['未通过', 'rejected'],
};
const PROFILE_MISSING = {
  name: ['名称', 'name'],
  avatar: ['头像', 'avatar'],
  signature: ['简介', 'signature'],
  approved_category: ['已审核通过的类目', 'an approved category'],
};

function reviewBadge(status) {
  const [zh, en] = word(REVIEW, status);
  return h('span', { class: `badge review-${status}` }, zh, ' ', h('span', { lang: 'en' }, en));
}

/** A chosen file as the API takes an image: {content_type, data_base64, filename}. */
function imageOf(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve({ content_type: file.type || 'image/png', filename: file.name,
      data_base64: String(r.result).replace(/^data:[^,]*,/, '') });
    r.onerror = () => reject(r.error);
    r.readAsDataURL(file);
  });
}

/** The app view's profile panel: name (with its review), avatar, signature, search status,
 * categories with their reviews, what a first audit still needs; edited in place. */
function profilePanel(appid) {
  const box = h('div', { id: 'profile-panel' });
  const out = h('div', { id: 'profile-result', 'aria-live': 'polite' });
  const render = async () => {
    let p;
    try {
      p = await get(`/ops/apps/${appid}/profile`);
    } catch (e) {
      box.replaceChildren(errorBox(e));
      return;
    }
    const missingNode = p.missing.length
      ? h('p', { class: 'why', id: 'profile-missing' }, '首次提审还缺：', p.missing.map((m) => word(PROFILE_MISSING, m)[0]).join('、'),
        h('small', { lang: 'en' }, ` a first audit still needs: ${p.missing.map((m) => word(PROFILE_MISSING, m)[1]).join(', ')}`))
      : h('p', { class: 'muted', id: 'profile-complete' }, '资料齐全，可以提审 ', h('small', { lang: 'en' }, 'complete for a first audit'));
    const review = p.name_review
      ? h('span', { id: 'name-review' }, ' ', reviewBadge(p.name_review.status), p.name_review.reason ? ` ${p.name_review.reason}` : '',
        p.name_review.nickname !== p.name.value ? h('small', { class: 'muted' }, ` ${p.name_review.nickname}`) : null)
      : null;
    const cats = p.categories.length
      ? h('ul', { id: 'profile-categories' }, p.categories.map((c) => h('li', { 'data-category': `${c.first}/${c.second}` },
        `${c.first_name || c.first} / ${c.second_name || c.second} `, reviewBadge(c.status), c.reason ? ` ${c.reason}` : '')))
      : h('p', { class: 'muted' }, '未设置类目 no category');
    const facts = kv([
      [bi('名称', 'Name'), [h('span', { id: 'profile-name' }, p.name.value || '—'), review]],
      [bi('头像', 'Avatar'), p.avatar.value ? h('img', { id: 'profile-avatar', src: p.avatar.value, alt: '头像 avatar', width: 48, height: 48 }) : '—'],
      [bi('简介', 'Signature'), h('span', { id: 'profile-signature' }, p.signature.value || '—')],
      [bi('搜索', 'Search'), p.search ? (p.search === 'hidden' ? '不可搜索 hidden' : '可搜索 searchable') : '—'],
      [bi('类目', 'Categories'), cats],
    ]);
    const nodes = [missingNode, facts];
    if (p.in_doubt.length) nodes.push(h('p', { class: 'why' }, `待确认的修改：${p.in_doubt.join(', ')}`, h('small', { lang: 'en' }, ` changes in doubt: ${p.in_doubt.join(', ')}`)));
    if (may('PUT', '/ops/apps/{appid}/profile')) {
      const name = h('input', { id: 'profile-name-input', maxlength: 30, placeholder: p.name.value || '' });
      const signature = h('input', { id: 'profile-signature-input', maxlength: 120, placeholder: p.signature.value || '' });
      const avatar = h('input', { id: 'profile-avatar-input', type: 'file', accept: 'image/*' });
      const search = h('select', { id: 'profile-search-input' }, h('option', { value: '' }, '不变 unchanged'),
        h('option', { value: 'searchable' }, '可搜索 searchable'), h('option', { value: 'hidden' }, '不可搜索 hidden'));
      nodes.push(h('form', { class: 'action', id: 'profile-form', onsubmit: async (e) => {
        e.preventDefault();
        const body = {};
        if (name.value.trim()) body.name = name.value.trim();
        if (signature.value.trim()) body.signature = signature.value.trim();
        if (search.value) body.search = search.value;
        try {
          if (avatar.files && avatar.files[0]) body.avatar = await imageOf(avatar.files[0]);
          const v = await api('PUT', `/ops/apps/${appid}/profile`, body);
          show(out, okBox(`已保存 ${Object.keys(body).join(', ')}${v.name === 'checking' ? '（名称审核中）' : ''}`,
            `saved${v.name === 'checking' ? ' (the name is in review)' : ''}`));
          await render();
        } catch (err) {
          show(out, errorBox(err));
        }
      } },
      h('div', { class: 'form-grid' },
        h('div', { class: 'field' }, h('label', { for: 'profile-name-input' }, bi('新名称', 'New name')), name),
        h('div', { class: 'field' }, h('label', { for: 'profile-signature-input' }, bi('新简介', 'New signature')), signature),
        h('div', { class: 'field' }, h('label', { for: 'profile-avatar-input' }, bi('新头像', 'New avatar')), avatar),
        h('div', { class: 'field' }, h('label', { for: 'profile-search-input' }, bi('搜索', 'Search')), search)),
      h('div', { class: 'row' }, h('button', { type: 'submit', id: 'profile-save' }, bi('保存资料', 'Save the profile')))));
    }
    if (may('POST', '/ops/apps/{appid}/categories')) {
      const first = h('input', { id: 'category-first', type: 'number', min: 1, placeholder: '150' });
      const second = h('input', { id: 'category-second', type: 'number', min: 1, placeholder: '666' });
      const certKey = h('input', { id: 'category-cert-key', placeholder: '资质名称 qualification' });
      const cert = h('input', { id: 'category-cert', type: 'file', accept: 'image/*' });
      nodes.push(h('form', { class: 'action', id: 'category-form', onsubmit: async (e) => {
        e.preventDefault();
        const body = { first: Number(first.value), second: Number(second.value), certificates: [] };
        try {
          if (cert.files && cert.files[0]) body.certificates.push({ key: certKey.value.trim(), ...(await imageOf(cert.files[0])) });
          const v = await api('POST', `/ops/apps/${appid}/categories`, body);
          show(out, okBox(`已添加类目 ${v.first}/${v.second}：${word(REVIEW, v.status === 'set' ? 'approved' : v.status)[0]}`, `category added: ${v.status}`));
          await render();
        } catch (err) {
          show(out, errorBox(err));
        }
      } },
      h('div', { class: 'form-grid' },
        h('div', { class: 'field narrow' }, h('label', { for: 'category-first' }, bi('一级类目 id', 'Level-1 id')), first),
        h('div', { class: 'field narrow' }, h('label', { for: 'category-second' }, bi('二级类目 id', 'Level-2 id')), second),
        h('div', { class: 'field' }, h('label', { for: 'category-cert-key' }, bi('资质名称', 'Qualification')), certKey),
        h('div', { class: 'field' }, h('label', { for: 'category-cert' }, bi('资质文件', 'Qualification file')), cert)),
      h('div', { class: 'row' }, h('button', { type: 'submit', id: 'category-add', class: 'secondary' }, bi('添加类目', 'Add the category')))));
    }
    box.replaceChildren(...nodes);
  };
  render();
  return [box, out];
}

/** The app view's quota panel: one API's count, the month's resets, and the reset button. */
function quotaPanel(appid) {
  const path = h('input', { id: 'quota-cgi-path', placeholder: '/wxa/get_category' });
  const out = h('div', { id: 'quota-result', 'aria-live': 'polite' });
  const look = async () => {
    try {
      const p = path.value.trim();
      const v = await get(`/ops/apps/${appid}/quota${p ? `?cgi_path=${enc(p)}` : ''}`);
      show(out, h('p', {}, v.quota ? `${p}: ${v.quota.used} / ${v.quota.daily_limit} · ` : '',
        `本月已清零 ${v.resets.spent} / ${v.resets.limit} 次`, h('small', { lang: 'en' }, ` resets this month: ${v.resets.spent} of ${v.resets.limit}`)));
    } catch (e) {
      show(out, errorBox(e));
    }
  };
  const clear = may('POST', '/ops/apps/{appid}/quota/clear')
    ? h('button', { type: 'button', id: 'quota-clear', class: 'secondary', onclick: async () => {
      if (!window.confirm('清零会消耗本月 10 次机会中的 1 次。继续？ A reset spends one of the month\'s 10. Go on?')) return;
      try {
        const p = path.value.trim();
        await api('POST', `/ops/apps/${appid}/quota/clear`, p ? { cgi_path: p } : {});
        await look();
      } catch (e) {
        show(out, errorBox(e));
      }
    } }, bi('清零当日额度', 'Clear the daily quota'))
    : missing('quota-clear', 'POST', '/ops/apps/{appid}/quota/clear');
  look();
  return [h('div', { class: 'toolbar' }, h('label', { for: 'quota-cgi-path' }, 'cgi_path'), path,
    h('button', { type: 'button', id: 'quota-look', class: 'secondary', onclick: look }, bi('查询', 'Look up')), clear), out];
}

// ---------------------------------------------------------------- registrations (快速注册)

const REG_STATUS = {
  submitting: ['结果未知，待确认', 'in doubt'],
  waiting_for_confirmation: ['等待法人/用户确认', 'waiting for confirmation'],
  failed: ['失败', 'failed'],
  succeeded: ['已创建', 'succeeded'],
};
const REG_KIND = {
  enterprise: ['企业', 'enterprise'],
  personal: ['个人', 'personal'],
  beta: ['试用小程序', 'trial'],
  reuse_official_account: ['复用公众号主体', 'official account subject'],
};
/** Each kind's fields: [name, zh, en, required]. */
const REG_FIELDS = {
  enterprise: [
    ['name', '企业名', 'Enterprise name', true],
    ['code', '企业代码', 'Code', true],
    ['code_type', '代码类型', 'Code type', true],
    ['legal_persona_wechat', '法人微信号', 'Legal person WeChat id', true],
    ['legal_persona_name', '法人姓名', 'Legal person name', true],
    ['component_phone', '联系电话（可选）', 'Phone (optional)', false],
  ],
  personal: [
    ['idname', '姓名', 'Name', true],
    ['wxuser', '微信号', 'WeChat id', true],
    ['component_phone', '联系电话（可选）', 'Phone (optional)', false],
  ],
  beta: [
    ['name', '名称（4-30 字）', 'Name (4-30 characters)', true],
    ['openid', '用户 openid', 'User openid', true],
  ],
  reuse_official_account: [
    ['official_account_appid', '公众号 appid', 'Official account appid', true],
    ['ticket', '管理员扫码 ticket', 'Administrator scan ticket', true],
  ],
};

function regBadge(status) {
  const [zh, en] = word(REG_STATUS, status);
  return h('span', { class: `badge ${status}`, 'data-status': status, title: en }, zh, ' ', h('span', { lang: 'en' }, en));
}

/** The field errors of a refused registration, each in both languages. */
function fieldErrorList(err) {
  const fields = err instanceof ApiError && Array.isArray(err.body.fields) ? err.body.fields : [];
  if (!fields.length) return null;
  return h('ul', { class: 'field-errors', id: 'registration-field-errors' },
    fields.map((f) => h('li', { 'data-field': f.field }, h('code', {}, f.field), ' ', f.zh, h('span', { class: 'en', lang: 'en' }, f.en))));
}

async function viewRegistrations() {
  const main = $('#main');
  const result = h('div', { id: 'registration-result', 'aria-live': 'polite' });
  const listSlot = h('section', { class: 'card wide', id: 'registration-list' });
  const customer = h('input', { id: 'reg-customer', required: true, maxlength: 64, placeholder: 'customer_id' });
  const kind = h('select', { id: 'reg-kind' },
    Object.entries(REG_KIND).map(([v, [zh, en]]) => h('option', { value: v }, `${zh} ${en}`)));
  const fieldsSlot = h('div', { class: 'form-grid', id: 'reg-fields' });
  let inputs = {};
  const drawFields = () => {
    inputs = {};
    fieldsSlot.replaceChildren(...REG_FIELDS[kind.value].map(([name, zh, en, required]) => {
      const id = `reg-${name}`;
      const input = name === 'code_type'
        ? h('select', { id }, [[1, '统一社会信用代码 credit code'], [2, '组织机构代码 organization code'], [3, '营业执照注册号 licence number']]
          .map(([v, t]) => h('option', { value: v }, t)))
        : h('input', { id, required, spellcheck: 'false' });
      inputs[name] = input;
      return h('div', { class: 'field' }, h('label', { for: id }, bi(zh, en)), input);
    }));
  };
  kind.addEventListener('change', drawFields);
  drawFields();
  const status = h('select', { id: 'registration-status', 'aria-label': '状态 status' },
    [['', '全部 all'], ...Object.entries(REG_STATUS).map(([v, [zh, en]]) => [v, `${zh} ${en}`])]
      .map(([v, t]) => h('option', { value: v }, t)));
  status.addEventListener('change', () => loadList());
  const form = h('form', { class: 'card wide', id: 'registration-form', onsubmit: async (e) => {
    e.preventDefault();
    const body = { customer_id: customer.value.trim(), kind: kind.value };
    for (const [name, input] of Object.entries(inputs)) {
      const v = input.value.trim();
      if (name === 'code_type') body[name] = Number(v);
      else if (v) body[name] = v;
    }
    try {
      const r = await api('POST', '/ops/registrations', body);
      const [zh, en] = word(REG_STATUS, r.status);
      show(result, h('div', { class: 'box ok-box', role: 'status' },
        h('p', {}, `已为客户 ${body.customer_id} 发起注册：${zh}`, r.in_doubt ? '（微信应答丢失，wxopen 不会重复提交，稍后自动确认）' : ''),
        h('p', { class: 'en', lang: 'en' }, `Registration started for ${body.customer_id}: ${en}`, r.in_doubt ? ' (WeChat\'s answer was lost; never sent again, settled later)' : ''),
        r.authorize_url ? h('p', {}, '请把确认链接发给商家 send the merchant this link: ', h('input', { readonly: true, class: 'mono', value: r.authorize_url, 'aria-label': '确认链接 confirmation link' })) : null,
        h('p', {}, h('a', { href: `#/registrations/${enc(r.registration_id)}`, id: 'registration-link' }, bi('跟进此注册', 'Follow this registration')))));
      await loadList();
    } catch (err) {
      const box = errorBox(err);
      show(result, box ? h('div', {}, box, fieldErrorList(err)) : null);
    }
  } },
  h('h2', {}, bi('为商家注册小程序', 'Register a mini program for a merchant')),
  h('div', { class: 'form-grid' },
    h('div', { class: 'field' }, h('label', { for: 'reg-customer' }, bi('客户 ID', 'Customer id')), customer),
    h('div', { class: 'field' }, h('label', { for: 'reg-kind' }, bi('注册类型', 'Kind')), kind)),
  fieldsSlot,
  h('div', { class: 'row' }, may('POST', '/ops/registrations')
    ? h('button', { type: 'submit', id: 'start-registration' }, bi('发起注册', 'Start registration'))
    : missing('start-registration', 'POST', '/ops/registrations')));
  main.append(heading('注册小程序', 'Registrations'), form, result,
    h('div', { class: 'toolbar' }, h('div', { class: 'field' }, h('label', { for: 'registration-status' }, bi('状态', 'Status')), status)),
    h('div', { class: 'cards' }, listSlot));
  focusHeading();

  async function loadList() {
    try {
      const q = status.value ? `&status=${enc(status.value)}` : '';
      const page = await get(`/ops/registrations?limit=50${q}`);
      listSlot.replaceChildren(h('h2', {}, bi('注册记录', 'Registrations')), h('div', { class: 'table-wrap' }, h('table', { id: 'registration-table' },
        h('thead', {}, h('tr', {}, h('th', {}, bi('注册', 'Registration')), h('th', {}, bi('类型', 'Kind')), h('th', {}, bi('客户', 'Customer')),
          h('th', { class: 'hide-narrow' }, bi('名称', 'Name')), h('th', {}, bi('状态', 'Status')), h('th', {}, bi('小程序', 'Mini program')),
          h('th', { class: 'hide-narrow' }, bi('发起时间', 'Started')))),
        h('tbody', {}, page.items.length ? page.items.map((r) => h('tr', { 'data-registration': r.registration_id },
          h('td', { class: 'mono' }, h('a', { href: `#/registrations/${enc(r.registration_id)}` }, r.registration_id)),
          h('td', {}, word(REG_KIND, r.kind)[0]), h('td', {}, r.customer_id), h('td', { class: 'hide-narrow' }, r.name || '—'),
          h('td', {}, regBadge(r.status), r.reason ? h('small', {}, ` ${r.reason}`) : ''),
          h('td', { class: 'mono' }, r.appid ? h('a', { href: `#/apps/${r.appid}` }, r.appid) : '—'),
          h('td', { class: 'hide-narrow' }, fmtTime(r.created_at))))
          : h('tr', {}, h('td', { colspan: 7, class: 'muted' }, '还没有注册 none yet'))))));
    } catch (e) {
      listSlot.replaceChildren(errorBox(e) || '');
    }
  }
  await loadList();
  poll(15000, loadList);
}

async function viewRegistration(id) {
  const main = $('#main');
  const detail = h('section', { class: 'card wide', id: 'registration-detail' });
  const result = h('div', { id: 'registration-verify-result', 'aria-live': 'polite' });
  main.append(heading('注册', 'Registration', h('small', { class: 'mono' }, ` ${id}`)),
    h('p', {}, h('a', { href: '#/registrations' }, bi('← 全部注册', '← All registrations'))), detail, result);
  focusHeading();

  async function load() {
    const r = await get(`/ops/registrations/${enc(id)}`);
    const v = r.verification;
    detail.replaceChildren(h('h2', {}, bi('进度', 'Progress')), kv([
      [biSpan('类型', 'Kind'), word(REG_KIND, r.kind)[0]],
      [biSpan('客户', 'Customer'), r.customer_id],
      r.name ? [biSpan('名称', 'Name'), r.name] : null,
      [biSpan('状态', 'Status'), h('span', { id: 'registration-status-value' }, regBadge(r.status))],
      r.reason ? [biSpan('原因', 'Reason'), `${r.reason}${r.errcode !== null && r.errcode !== undefined ? ` (${r.errcode})` : ''}`] : null,
      r.appid ? [biSpan('小程序', 'Mini program'), h('a', { href: `#/apps/${r.appid}`, class: 'mono' }, r.appid)] : null,
      r.authorize_url ? [biSpan('确认链接', 'Confirmation link'), h('input', { readonly: true, class: 'mono', value: r.authorize_url, 'aria-label': '确认链接 confirmation link' })] : null,
      v ? [biSpan('转为正式小程序', 'Made formal'), h('span', { id: 'verification-status' }, regBadge(v.status), v.reason ? ` ${v.reason}` : '')] : null,
      [biSpan('发起', 'Started'), `${fmtTime(r.created_at)} · ${r.operator}`],
    ]));
    if (r.kind === 'beta' && r.status === 'succeeded' && (!v || v.status === 'failed') && may('POST', '/ops/registrations/{id}/verify')) {
      detail.append(verifyForm());
    }
    return r.status === 'submitting' || r.status === 'waiting_for_confirmation'
      || (v && (v.status === 'submitting' || v.status === 'waiting_for_confirmation'));
  }

  function verifyForm() {
    const fields = [
      ['enterprise_name', '企业名', 'Enterprise name'], ['code', '企业代码', 'Code'],
      ['legal_persona_wechat', '法人微信号', 'Legal person WeChat id'], ['legal_persona_name', '法人姓名', 'Legal person name'],
    ];
    const inputs = Object.fromEntries(fields.map(([n]) => [n, h('input', { id: `verify-${n}`, required: true, spellcheck: 'false' })]));
    const codeType = h('select', { id: 'verify-code_type' }, [[1, '统一社会信用代码 credit code'], [2, '组织机构代码 organization code'], [3, '营业执照注册号 licence number']]
      .map(([val, t]) => h('option', { value: val }, t)));
    return h('form', { id: 'verify-form', onsubmit: async (e) => {
      e.preventDefault();
      const body = { code_type: Number(codeType.value) };
      for (const [n, input] of Object.entries(inputs)) body[n] = input.value.trim();
      try {
        await api('POST', `/ops/registrations/${enc(id)}/verify`, body);
        show(result, okBox('已提交转正，等待法人确认', 'Sent: waiting for the legal person to confirm'));
        await load();
      } catch (err) {
        const box = errorBox(err);
        show(result, box ? h('div', {}, box, fieldErrorList(err)) : null);
      }
    } },
    h('h2', {}, bi('试用小程序转为正式小程序', 'Make the trial formal')),
    h('div', { class: 'form-grid' }, fields.map(([n, zh, en]) => h('div', { class: 'field' }, h('label', { for: `verify-${n}` }, bi(zh, en)), inputs[n])),
      h('div', { class: 'field' }, h('label', { for: 'verify-code_type' }, bi('代码类型', 'Code type')), codeType)),
    h('div', { class: 'row' }, h('button', { type: 'submit', id: 'verify-trial' }, bi('提交转正', 'Make formal'))));
  }

  if (await load()) poll(10000, load);
}

/*
 * The order-help chat widget. One tag adds it to any page:
 *
 *   <script src="https://bot.example.com/widget.js" async
 *           data-locale="hi" data-color="#0a7" data-greeting="Hi!" data-shop="Mitti & Co."
 *           data-customer-email="..." data-customer-signature="..."></script>
 *
 * Hand-written, no build step, no dependencies. It lives in a shadow root, so the
 * shop's CSS and ours never meet. Everything the bot or staff send is put on the
 * page as text (textContent), never as HTML. The conversation (its token, the
 * messages shown, the last event seen) is kept in the shop's localStorage, so a
 * reload or the next page of the shop shows it at once; staff messages arrive over
 * the event stream, which resumes after the last event it saw. Each message has a
 * client id that its retries reuse, so the server handles it once.
 */
(() => {
  "use strict";
  if (window.OrderHelp) return; // the tag was pasted twice

  const script = document.currentScript;
  const data = (script && script.dataset) || {};
  const scriptOrigin = script && script.src ? new URL(script.src, location.href).origin : location.origin;
  const BOT = (data.botUrl || scriptOrigin).replace(/\/+$/, "");
  const LOCALE = data.locale || document.documentElement.lang || navigator.language || "en";
  const ACCENT = /^#([0-9a-f]{3}){1,2}$/i.test(data.color || "") ? data.color : "#0b6e4f";
  const KEY = "ohb-chat:" + BOT;
  const MAX_KEPT = 200;
  const MAX_TEXT = 1000;

  const TEXTS = {
    en: {
      title: "Order help", subtitle: "Track, change or return an order",
      open: "Open chat", close: "Close chat", message: "Message", placeholder: "Type a message",
      send: "Send", typing: "Reply on its way", sending: "Sending…", you: "You",
      offline: "Can't reach the chat. Retrying…", unread: (n) => n + (n === 1 ? " unread message" : " unread messages"),
      failed: "Something went wrong. Please try again.", newTab: "opens in a new tab",
      log: "Conversation", replies: "Quick replies", attach: "Attach a photo or PDF", remove: "Remove the file",
      uploading: (p) => "Uploading… " + p + "%", caption: "Add a message (optional)", file: "File",
    },
    hi: {
      title: "ऑर्डर सहायता", subtitle: "ऑर्डर ट्रैक करें, बदलें या लौटाएँ",
      open: "चैट खोलें", close: "चैट बंद करें", message: "संदेश", placeholder: "संदेश लिखें",
      send: "भेजें", typing: "जवाब आ रहा है", sending: "भेजा जा रहा है…", you: "आप",
      offline: "चैट से जुड़ नहीं पा रहे। फिर से कोशिश कर रहे हैं…", unread: (n) => n + " नए संदेश",
      failed: "कुछ गड़बड़ हो गई। कृपया फिर से कोशिश करें।", newTab: "नए टैब में खुलता है",
      log: "बातचीत", replies: "झटपट जवाब", attach: "फ़ोटो या PDF जोड़ें", remove: "फ़ाइल हटाएँ",
      uploading: (p) => "अपलोड हो रहा है… " + p + "%", caption: "संदेश जोड़ें (वैकल्पिक)", file: "फ़ाइल",
    },
  };
  const T = TEXTS[LOCALE.slice(0, 2).toLowerCase()] || TEXTS.en;
  const TITLE = data.title || T.title;
  const SHOP = data.shop || TITLE; // "Asha · Mitti & Co." under a staff reply

  // The shop's signed word on who this is (exactly one of id, email, phone).
  let customer = null;
  for (const kind of ["id", "email", "phone"]) {
    const value = data["customer" + kind[0].toUpperCase() + kind.slice(1)];
    if (value && data.customerSignature) customer = { [kind]: value, signature: data.customerSignature };
  }
  // A stored conversation belongs to one visitor in one language: a change of either
  // (a sign-in, a sign-out on a shared computer) starts a new one.
  const WHO = LOCALE + "|" + (customer ? customer.signature : "");

  // --- state, kept in localStorage ----------------------------------------------

  let memory = fresh();
  let notes = []; // errors shown in the panel; not kept across reloads
  function fresh() {
    return { v: 1, who: WHO, token: null, started: false, lastEvent: null, open: false, unread: 0, messages: [] };
  }
  function load() {
    try {
      const stored = JSON.parse(localStorage.getItem(KEY) || "null");
      if (stored && stored.v === 1 && stored.who === WHO && Array.isArray(stored.messages)) memory = stored;
      else if (stored) memory = fresh();
    } catch (e) { /* storage blocked or corrupt: keep what is in memory */ }
    return memory;
  }
  // Read, change, write back: another tab of the shop may have written meanwhile.
  function update(change) {
    const state = load();
    change(state);
    state.messages = state.messages.slice(-MAX_KEPT);
    try { localStorage.setItem(KEY, JSON.stringify(state)); } catch (e) { /* private mode: memory only */ }
    render();
  }

  function newId() {
    const bytes = crypto.getRandomValues(new Uint8Array(12));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // --- the DOM --------------------------------------------------------------------

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (name === "text") node.textContent = value;
      else if (name === "on") for (const [type, fn] of Object.entries(value)) node.addEventListener(type, fn);
      else if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }
  function icon(d, size) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", size || 24);
    svg.setAttribute("height", size || 24);
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", d);
    path.setAttribute("fill-rule", "evenodd");
    svg.append(path);
    return svg;
  }
  const ICON_CHAT = "M12 3C6.5 3 2 6.6 2 11c0 2.3 1.2 4.4 3.2 5.9L4.5 21l4.6-2.4c.9.3 1.9.4 2.9.4 5.5 0 10-3.6 10-8s-4.5-8-10-8zM7.5 9.6a1.4 1.4 0 1 0 0 2.8 1.4 1.4 0 1 0 0-2.8zm4.5 0a1.4 1.4 0 1 0 0 2.8 1.4 1.4 0 1 0 0-2.8zm4.5 0a1.4 1.4 0 1 0 0 2.8 1.4 1.4 0 1 0 0-2.8z";
  const ICON_DOWN = "M5.6 8.3 12 14.7l6.4-6.4 1.4 1.4-7.8 7.8-7.8-7.8z";
  const ICON_CLOSE = "M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6 10.6 12 5 6.4z";
  const ICON_SEND = "M3 20.5 21.5 12 3 3.5 3 10l12 2-12 2z";
  const ICON_CLIP = "M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5H9v9a3 3 0 0 0 6 0V5a4.5 4.5 0 0 0-9 0v11.5a6 6 0 0 0 12 0v-10z";
  const ICON_OUT = "M14 3h7v7h-2V6.4l-8.3 8.3-1.4-1.4L17.6 5H14zM5 5h6v2H6v11h11v-5h2v7H4V5z";

  function rgb(hex) {
    let h = hex.slice(1);
    if (h.length === 3) h = h.replace(/./g, "$&$&");
    return [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16));
  }
  function luminance([r, g, b]) {
    const [lr, lg, lb] = [r, g, b].map((v) => {
      const c = v / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * lr + 0.7152 * lg + 0.0722 * lb;
  }
  // Text on the accent: whichever of near-black and white reads better (WCAG ratio).
  function contrast(hex) {
    const l = luminance(rgb(hex));
    return (l + 0.05) / 0.0556 > 1.05 / (l + 0.05) ? "#111" : "#fff";
  }
  // The accent as text on white (quick replies): darkened until it reaches 4.5:1.
  function ink(hex) {
    let color = rgb(hex);
    while (1.05 / (luminance(color) + 0.05) < 4.5) color = color.map((v) => Math.floor(v * 0.9));
    return "#" + color.map((v) => v.toString(16).padStart(2, "0")).join("");
  }

  const CSS = `
:host{all:initial}
*{box-sizing:border-box}
.root{--a:${ACCENT};--on-a:${contrast(ACCENT)};--a-ink:${ink(ACCENT)};position:fixed;${data.position === "left" ? "left" : "right"}:20px;bottom:20px;z-index:2147483000;
 font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans Devanagari",sans-serif;color:#1d2327;-webkit-font-smoothing:antialiased}
button,input{font:inherit;color:inherit}
.launcher{width:56px;height:56px;border-radius:50%;border:0;background:var(--a);color:var(--on-a);cursor:pointer;display:grid;place-items:center;
 box-shadow:0 6px 20px rgba(0,0,0,.22);position:relative;transition:transform .15s}
.launcher:hover{transform:scale(1.06)}
.launcher svg+svg,.open .launcher svg:first-child{display:none}
.open .launcher svg+svg{display:block}
.launcher svg,.icon-btn svg,.send svg{fill:currentColor}
.badge{position:absolute;top:-4px;right:-4px;min-width:22px;height:22px;padding:0 6px;border-radius:11px;background:#d92d20;color:#fff;
 font-size:12px;font-weight:700;line-height:22px;text-align:center;border:2px solid #fff}
.badge[hidden],[hidden]{display:none!important}
.panel{position:absolute;bottom:72px;${data.position === "left" ? "left" : "right"}:0;width:380px;height:min(620px,calc(100vh - 110px));
 background:#fff;border-radius:16px;box-shadow:0 12px 40px rgba(0,0,0,.25);display:flex;flex-direction:column;overflow:hidden;
 animation:up .18s ease-out}
@keyframes up{from{opacity:0;transform:translateY(12px)}}
header{background:var(--a);color:var(--on-a);padding:14px 12px 14px 18px;display:flex;align-items:center;gap:12px}
.avatar{width:38px;height:38px;border-radius:50%;background:rgba(255,255,255,.2);display:grid;place-items:center;flex:none}
.avatar svg{fill:currentColor}
.heading{flex:1;min-width:0}
h2{font-size:16px;font-weight:650;margin:0;line-height:1.25}
.sub{font-size:12.5px;opacity:.85;margin:2px 0 0}
.icon-btn{border:0;background:none;color:inherit;width:40px;height:40px;border-radius:50%;cursor:pointer;display:grid;place-items:center}
.icon-btn:hover{background:rgba(255,255,255,.18)}
.banner{background:#fff4e5;color:#7a4100;font-size:13px;padding:8px 16px;border-bottom:1px solid #f5d9b0}
.scroll{flex:1;overflow-y:auto;padding:16px 14px 8px;background:#f7f8fa;overscroll-behavior:contain}
.log{display:flex;flex-direction:column;gap:4px}
.row{display:flex;flex-direction:column;align-items:flex-start;max-width:86%}
.row.me{align-self:flex-end;align-items:flex-end}
.row.note{align-self:center;max-width:92%;align-items:center}
.row.gap{margin-top:10px}
.bubble{padding:9px 13px;border-radius:16px;white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word;background:#fff;
 border:1px solid #e6e8eb;border-bottom-left-radius:5px}
.me .bubble{background:var(--a);color:var(--on-a);border-color:transparent;border-radius:16px;border-bottom-right-radius:5px}
.note .bubble{background:#fdecea;border-color:#f6c6c1;color:#8a1c12;font-size:13.5px;border-radius:10px;text-align:center}
.meta{font-size:11.5px;color:#4b5563;margin:3px 6px 2px}
.staff .bubble{border-left:3px solid var(--a)}
.by{font-size:11.5px;font-weight:600;color:#374151;margin:0 6px 3px}
.choices{display:flex;flex-wrap:wrap;gap:6px;margin-top:6px}
.choice,.link{border:1.5px solid var(--a);background:#fff;color:var(--a-ink);border-radius:18px;padding:6px 13px;font-size:14px;cursor:pointer;
 text-decoration:none;display:inline-flex;align-items:center;gap:5px;line-height:1.3;text-align:left}
.choice:hover{background:var(--a);color:var(--on-a)}
.link{background:var(--a);color:var(--on-a)}
.link svg{fill:currentColor}
.link:hover{filter:brightness(1.08)}
.typing{display:inline-flex;gap:4px;padding:12px 14px;background:#fff;border:1px solid #e6e8eb;border-radius:16px;border-bottom-left-radius:5px;margin-top:8px}
.typing i{width:7px;height:7px;border-radius:50%;background:#9aa1a9;animation:blink 1.2s infinite}
.typing i:nth-child(2){animation-delay:.2s}.typing i:nth-child(3){animation-delay:.4s}
@keyframes blink{0%,80%,100%{opacity:.3}40%{opacity:1}}
form{display:flex;gap:8px;padding:10px 12px;border-top:1px solid #e6e8eb;background:#fff}
input{flex:1;min-width:0;border:1px solid #cfd4da;border-radius:22px;padding:10px 16px;font-size:16px;background:#fff;outline:none}
input:focus{border-color:var(--a);box-shadow:0 0 0 3px color-mix(in srgb,var(--a) 22%,transparent)}
.attach{width:44px;height:44px;border-radius:50%;border:0;background:none;color:#59636e;cursor:pointer;display:grid;place-items:center;flex:none}
.attach svg{fill:currentColor}.attach:hover{background:#f0f2f4}
.pending{display:flex;align-items:center;gap:10px;padding:8px 12px 0;background:#fff;border-top:1px solid #e6e8eb}
.pending img{width:48px;height:48px;object-fit:cover;border-radius:8px;border:1px solid #e6e8eb}
.pending .name{flex:1;min-width:0;font-size:13px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.pending+form{border-top:0}
.shot{display:block;max-width:220px;max-height:220px;border-radius:12px;border:1px solid #e6e8eb;margin-bottom:4px;background:#fff}
.filechip{display:inline-block;padding:6px 10px;border-radius:10px;background:#fff;border:1px solid #e6e8eb;color:inherit;font-size:13px;margin-bottom:4px;text-decoration:none}
.send{width:44px;height:44px;border-radius:50%;border:0;background:var(--a);color:var(--on-a);cursor:pointer;display:grid;place-items:center;flex:none}
button:focus-visible,a:focus-visible{outline:3px solid color-mix(in srgb,var(--a) 55%,#000);outline-offset:2px}
.scroll:focus-visible{outline:3px solid color-mix(in srgb,var(--a) 55%,#000);outline-offset:-3px}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media (max-width:480px){
 .root{right:14px;left:auto;bottom:14px}
 .root.open{inset:0}
 .root.open .launcher{display:none}
 .panel{position:fixed;inset:0;width:100%;height:100%;border-radius:0;animation:none}
}
@media (prefers-reduced-motion:reduce){.panel,.typing i,.launcher{animation:none;transition:none}}
`;

  const host = el("ohb-chat");
  const shadow = host.attachShadow({ mode: "open" });
  const style = el("style", { nonce: (script && script.nonce) || null, text: CSS });

  const badge = el("span", { class: "badge", "aria-hidden": "true", hidden: true });
  const launcher = el("button", { class: "launcher", type: "button", "aria-expanded": "false", "aria-controls": "ohb-panel", on: { click: () => setOpen(!memory.open, true) } }, icon(ICON_CHAT, 28), icon(ICON_DOWN, 28), badge);
  const title = el("h2", { id: "ohb-title", text: TITLE });
  const closeBtn = el("button", { class: "icon-btn", type: "button", "aria-label": T.close, on: { click: () => setOpen(false, true) } }, icon(ICON_CLOSE));
  const banner = el("div", { class: "banner", role: "status", hidden: true });
  const log = el("div", { class: "log" });
  const typing = el("div", { class: "typing", role: "status", "aria-label": T.typing, hidden: true }, el("i"), el("i"), el("i"));
  // The conversation scrolls, so it is a stop in the tab order of its own (arrow keys
  // scroll it). New messages are read out by `live`, not by the log itself, which is
  // rebuilt on every change.
  const scroller = el("div", { class: "scroll", role: "log", "aria-live": "off", "aria-label": T.log, tabindex: "0" }, log, typing);
  const input = el("input", { type: "text", maxlength: MAX_TEXT, placeholder: T.placeholder, "aria-label": T.message, autocomplete: "off", enterkeyhint: "send" });
  const picker = el("input", { type: "file", accept: "image/jpeg,image/png,image/webp,image/heic,application/pdf", hidden: true, "aria-hidden": "true", tabindex: "-1", on: { change: onPicked } });
  const attachBtn = el("button", { class: "attach", type: "button", "aria-label": T.attach, title: T.attach, on: { click: () => picker.click() } }, icon(ICON_CLIP, 22));
  const pending = el("div", { class: "pending", hidden: true });
  const form = el("form", { on: { submit: onSubmit } }, attachBtn, input, picker, el("button", { class: "send", type: "submit", "aria-label": T.send }, icon(ICON_SEND, 22)));
  const live = el("div", { class: "sr", "aria-live": "polite", "aria-atomic": "true" });
  // Inside the panel too: while it is modal, a screen reader may ignore what is outside.
  const liveInPanel = el("div", { class: "sr", "aria-live": "polite", "aria-atomic": "true" });
  const panel = el("div", { class: "panel", id: "ohb-panel", role: "dialog", "aria-modal": "false", "aria-labelledby": "ohb-title", hidden: true },
    el("header", null, el("div", { class: "avatar" }, icon(ICON_CHAT, 20)), el("div", { class: "heading" }, title, el("p", { class: "sub", text: data.subtitle || T.subtitle })), closeBtn),
    banner, scroller, pending, form, liveInPanel);
  // The launcher comes first: Tab goes from it into the panel it opens, and on from
  // the panel's last control to the rest of the page.
  const root = el("div", { class: "root", on: { keydown: onKeydown } }, launcher, panel, live);
  shadow.append(style, root);

  // Full screen (a phone) the panel covers the page, so it is modal: Tab and Shift+Tab
  // go round inside it, and focus that lands on the page behind comes back.
  const fullScreen = window.matchMedia("(max-width: 480px)");
  const isModal = () => !!memory.open && fullScreen.matches;
  fullScreen.addEventListener("change", () => render());
  function tabStops() {
    return Array.from(panel.querySelectorAll("button, a[href], input, [tabindex]"))
      .filter((n) => n.tabIndex >= 0 && !n.disabled && n.getClientRects().length);
  }
  document.addEventListener("focusin", (event) => {
    if (isModal() && event.target !== host) input.focus();
  });

  function onKeydown(event) {
    if (event.key === "Escape" && memory.open) {
      event.stopPropagation();
      setOpen(false, true);
    } else if (event.key === "Tab" && isModal()) {
      const stops = tabStops();
      const at = stops.indexOf(shadow.activeElement);
      const edge = event.shiftKey ? 0 : stops.length - 1;
      if (stops.length && (at === edge || at < 0)) {
        event.preventDefault();
        stops[event.shiftKey ? stops.length - 1 : 0].focus();
      }
    }
  }

  // Quick replies and links under a message are one tab stop (a toolbar): arrow keys,
  // Home and End move between them. So from the message box one Shift+Tab reaches the
  // newest choices, and Tab leaves them for the box.
  const STEPS = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
  function onChoicesKeydown(event) {
    const items = Array.from(event.currentTarget.children);
    const at = items.indexOf(shadow.activeElement);
    if (at < 0) return;
    let next = event.key === "Home" ? 0 : event.key === "End" ? items.length - 1 : null;
    if (event.key in STEPS) next = (at + STEPS[event.key] + items.length) % items.length;
    if (next === null) return;
    event.preventDefault();
    rove(items, items[next]);
    items[next].focus();
  }
  function rove(items, current) {
    for (const item of items) item.tabIndex = item === current ? 0 : -1;
  }

  function onSubmit(event) {
    event.preventDefault();
    const text = input.value.trim();
    if (chosen) {
      const file = chosen;
      clearPending();
      input.value = "";
      sendFile(file, text);
      return;
    }
    if (!text) return;
    input.value = "";
    send({ text }, text);
  }

  // A chosen file waits above the box (a preview, its name, a remove button) until
  // sent; the words typed meanwhile go with it as its caption.
  let chosen = null;
  const previews = new Map(); // message id -> object URL of the shopper's own picture
  function isPicture(type) { return /^image\/(jpeg|png|webp)$/.test(type || ""); }
  function onPicked() {
    const file = picker.files && picker.files[0];
    picker.value = "";
    if (!file) return;
    chosen = file;
    const thumb = isPicture(file.type) ? el("img", { src: URL.createObjectURL(file), alt: "" }) : null;
    pending.replaceChildren(...[thumb, el("span", { class: "name", text: file.name }),
      el("button", { class: "attach", type: "button", "aria-label": T.remove, on: { click: () => { clearPending(); input.focus(); } } }, icon(ICON_CLOSE, 18))].filter(Boolean));
    pending.hidden = false;
    input.placeholder = T.caption;
    input.focus();
  }
  function clearPending() {
    chosen = null;
    pending.hidden = true;
    pending.replaceChildren();
    input.placeholder = T.placeholder;
  }

  // --- rendering ------------------------------------------------------------------

  const timeFormat = new Intl.DateTimeFormat(LOCALE, { hour: "numeric", minute: "2-digit" });
  const dateFormat = new Intl.DateTimeFormat(LOCALE, { day: "numeric", month: "short", hour: "numeric", minute: "2-digit" });
  function when(ms) {
    const date = new Date(ms);
    return (date.toDateString() === new Date().toDateString() ? timeFormat : dateFormat).format(date);
  }

  function safeUrl(url) {
    try {
      const parsed = new URL(url);
      return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
    } catch (e) {
      return null;
    }
  }

  function render() {
    // The log is rebuilt below: remember what had focus in it, to give focus back to
    // the same control in the new log (a new message never moves the shopper's focus).
    const focusedKey = log.contains(shadow.activeElement) ? shadow.activeElement.dataset.key : null;
    const messages = memory.messages.concat(notes).sort((a, b) => a.at - b.at);
    let lastMine = -1;
    messages.forEach((m, i) => { if (m.who === "me") lastMine = i; });
    const nearBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
    const rows = messages.map((m, i) => {
      const prev = messages[i - 1];
      const next = messages[i + 1];
      const row = el("div", { class: "row " + m.who + (prev && prev.who !== m.who ? " gap" : "") });
      if (m.by && (!prev || prev.by !== m.by)) row.append(el("div", { class: "by", text: m.by + " · " + SHOP }));
      if (m.file) row.append(fileView(m));
      if (m.text || !m.file) row.append(el("div", { class: "bubble", text: m.text }));
      // Buttons stay until the shopper answers; links (tracking) stay for good.
      const buttons = i > lastMine ? m.buttons || [] : [];
      const links = (m.links || []).map((l) => [l, safeUrl(l.url)]).filter(([, href]) => href);
      if (buttons.length || links.length) {
        const several = buttons.length + links.length > 1;
        const choices = el("div", { class: "choices", role: several ? "toolbar" : null, "aria-label": several ? T.replies : null, on: { keydown: onChoicesKeydown } });
        for (const [l, href] of links) {
          choices.append(el("a", { class: "link", href, target: "_blank", rel: "noopener noreferrer", "aria-label": l.label + " (" + T.newTab + ")", tabindex: "-1", "data-key": i + " link " + href }, l.label, icon(ICON_OUT, 15)));
        }
        for (const b of buttons) {
          choices.append(el("button", { class: "choice", type: "button", text: b.label, tabindex: "-1", "data-key": i + " button " + b.payload, on: { click: () => { input.focus(); send({ payload: b.payload }, b.label); } } }));
        }
        choices.addEventListener("focusin", (event) => rove(Array.from(choices.children), event.target));
        rove(Array.from(choices.children), choices.firstChild);
        row.append(choices);
      }
      const last = !next || next.who !== m.who || next.at - m.at > 120000;
      if (m.state === "uploading") row.append(el("div", { class: "meta", text: T.uploading(m.progress || 0) }));
      else if (m.state === "sending") row.append(el("div", { class: "meta", text: T.sending }));
      else if (last && m.at) row.append(el("div", { class: "meta", text: (m.who === "me" ? T.you : m.by || TITLE) + " · " + when(m.at) }));
      return row;
    });
    log.replaceChildren(...rows);
    if (focusedKey) {
      const same = Array.from(log.querySelectorAll("[data-key]")).find((n) => n.dataset.key === focusedKey);
      (same || scroller).focus({ preventScroll: true });
    }
    typing.hidden = !(waiting > 0 && !trouble.send);
    banner.textContent = T.offline;
    banner.hidden = !(trouble.send || trouble.stream);
    const unread = memory.open ? 0 : memory.unread;
    badge.textContent = unread > 9 ? "9+" : String(unread);
    badge.hidden = !unread;
    launcher.setAttribute("aria-label", unread ? T.open + ", " + T.unread(unread) : memory.open ? T.close : T.open);
    launcher.setAttribute("aria-expanded", String(!!memory.open));
    panel.hidden = !memory.open;
    panel.setAttribute("aria-modal", String(isModal()));
    root.classList.toggle("open", !!memory.open);
    if (nearBottom || justAdded) scroller.scrollTop = scroller.scrollHeight;
    justAdded = false;
  }
  let justAdded = false;

  // A file in the log: the shopper's own picture from memory (this page only), a
  // picture staff sent by its link, anything else as a named link.
  function fileView(m) {
    const own = previews.get(m.mid);
    const href = m.file.url ? safeUrl(m.file.url) : null;
    const src = own || (href && isPicture(m.file.type) ? href : null);
    if (src) {
      const img = el("img", { class: "shot", src, alt: m.file.name || T.file });
      return href ? el("a", { href, target: "_blank", rel: "noopener noreferrer" }, img) : img;
    }
    const label = "📎 " + (m.file.name || T.file);
    return href ? el("a", { class: "filechip", href, target: "_blank", rel: "noopener noreferrer", text: label }) : el("span", { class: "filechip", text: label });
  }

  function announce(texts) {
    if (!texts.length) return;
    const region = memory.open ? liveInPanel : live;
    live.textContent = liveInPanel.textContent = "";
    setTimeout(() => { region.textContent = TITLE + ": " + texts.join(" "); }, 50);
  }

  function addBot(replies, eventId) {
    update((state) => {
      if (eventId && state.messages.some((m) => m.eid === eventId)) return;
      const at = Date.now();
      for (const r of replies) {
        const by = r.author ? String(r.author) : undefined; // a person, not the bot
        const file = r.file && r.file.url ? { url: String(r.file.url), type: String(r.file.content_type || ""), name: String(r.file.name || "") } : undefined;
        state.messages.push({ who: by ? "staff" : "bot", by, text: String(r.text || ""), at, eid: eventId || undefined, buttons: r.buttons || [], links: r.links || [], file });
      }
      if (!state.open) state.unread = (state.unread || 0) + replies.length;
      if (eventId) state.lastEvent = eventId;
      justAdded = true;
    });
    announce(replies.map((r) => String(r.text || "")));
  }

  function addNote(text) {
    notes.push({ who: "note", text, at: Date.now() });
    justAdded = true;
    render();
    announce([text]);
  }

  function setOpen(open, byUser) {
    update((state) => {
      state.open = open;
      if (open) state.unread = 0;
    });
    if (open) {
      if (!memory.started) start();
      if (byUser) input.focus();
      connect();
    } else if (byUser) {
      launcher.focus();
    }
  }

  // --- talking to the bot ---------------------------------------------------------

  const trouble = { send: false, stream: false };
  let waiting = 0;
  let queue = Promise.resolve();
  const sleepers = new Set(); // waits that end early when the browser is back online

  class Refused extends Error {}

  function sleep(ms) {
    return new Promise((resolve) => {
      const done = () => { clearTimeout(timer); sleepers.delete(done); resolve(); };
      const timer = setTimeout(done, ms);
      sleepers.add(done);
    });
  }
  window.addEventListener("online", () => sleepers.forEach((done) => done()));

  function errorText(body) {
    const error = body && body.error;
    if (!error || !error.message) return T.failed;
    const details = (error.details || []).map((d) => d.field + ": " + d.problem);
    return error.message + (details.length ? " (" + details.join("; ") + ")" : "");
  }

  async function call(path, options) {
    const headers = { "Content-Type": "application/json" };
    if (options.token) headers.Authorization = "Bearer " + options.token;
    return fetch(BOT + path, { method: "POST", headers, body: JSON.stringify(options.body || {}), credentials: "omit" });
  }

  async function token() {
    if (memory.token) return memory.token;
    const body = { locale: LOCALE };
    if (customer) body.customer = customer;
    const response = await call("/api/chat/sessions", { body });
    const answer = await response.json().catch(() => null);
    if (response.status >= 500) throw new Error("unavailable");
    if (!response.ok) throw new Refused(errorText(answer));
    update((state) => { state.token = answer.token; });
    connect();
    return answer.token;
  }

  // The first opening asks for the menu, without a bubble of its own.
  let starting = false;
  function start() {
    if (memory.started || starting) return;
    starting = true;
    if (data.greeting && !memory.messages.length) {
      update((state) => { state.messages.push({ who: "bot", text: data.greeting, at: Date.now() }); });
    }
    enqueue({ mid: newId(), body: { payload: "menu" }, first: true });
  }

  function send(body, label) {
    const message = { who: "me", text: label, at: Date.now(), mid: newId(), body, state: "sending" };
    notes = [];
    justAdded = true;
    update((state) => { state.messages.push(message); });
    enqueue(message);
  }

  // A file goes up first (with its progress shown), then as a message naming it.
  function sendFile(file, caption) {
    const message = { who: "me", text: caption, at: Date.now(), mid: newId(), state: "uploading", progress: 0,
      file: { name: file.name, type: file.type } };
    if (isPicture(file.type)) previews.set(message.mid, URL.createObjectURL(file));
    notes = [];
    justAdded = true;
    update((state) => { state.messages.push(message); });
    waiting += 1;
    render();
    queue = queue.then(async () => {
      const answer = await upload(file, message.mid);
      if (!answer.ok) return finish(message, null, answer.error);
      message.body = caption ? { upload: answer.id, text: caption } : { upload: answer.id };
      update((state) => {
        const mine = state.messages.find((m) => m.mid === message.mid);
        if (mine) { mine.state = "sending"; mine.body = message.body; }
      });
      return deliver(message);
    }).catch(() => {}).then(() => { waiting -= 1; render(); });
  }

  function progress(mid, percent) {
    const mine = memory.messages.find((m) => m.mid === mid);
    if (mine) { mine.progress = percent; render(); }
  }

  // XMLHttpRequest, as fetch cannot report upload progress.
  async function upload(file, mid) {
    let renewed = false;
    for (let attempt = 0; ; attempt++) {
      let bearer;
      try { bearer = await token(); } catch (e) { return { ok: false, error: e instanceof Refused ? e.message : T.failed }; }
      const result = await new Promise((resolve) => {
        const xhr = new XMLHttpRequest();
        xhr.open("POST", BOT + "/api/chat/uploads");
        xhr.setRequestHeader("Authorization", "Bearer " + bearer);
        xhr.upload.onprogress = (e) => { if (e.lengthComputable) progress(mid, Math.round(100 * e.loaded / e.total)); };
        xhr.onload = () => { let body = null; try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ } resolve({ status: xhr.status, body }); };
        xhr.onerror = () => resolve({ status: 0, body: null });
        const data = new FormData();
        data.append("file", file, file.name);
        xhr.send(data);
      });
      if (result.status === 201 && result.body && result.body.upload) return { ok: true, id: result.body.upload };
      if (result.status === 401 && !renewed) {
        renewed = true;
        update((state) => { state.token = null; state.lastEvent = null; });
        if (stopStream) stopStream();
        continue;
      }
      if (result.status === 0 || result.status >= 500) {
        if (attempt >= 4) return { ok: false, error: T.failed };
        await sleep(Math.min(1000 * 2 ** attempt, 15000));
        continue;
      }
      return { ok: false, error: errorText(result.body) };
    }
  }

  function enqueue(message) {
    waiting += 1;
    render();
    queue = queue.then(() => deliver(message)).catch(() => {}).then(() => { waiting -= 1; render(); });
  }

  // Sends one message until the server has it: a network error or a 503 is retried
  // with the same message id (the server answers a repeat with its first answer).
  async function deliver(message) {
    let renewed = false;
    for (let attempt = 0; ; attempt++) {
      let response = null;
      try {
        response = await call("/api/chat/messages", { token: await token(), body: Object.assign({ message_id: message.mid }, message.body) });
      } catch (e) {
        if (e instanceof Refused) return finish(message, null, e.message);
      }
      if (response && response.status === 401 && !renewed) {
        renewed = true; // expired, or the bot's secret changed: a new session, same message
        update((state) => { state.token = null; state.lastEvent = null; });
        if (stopStream) stopStream(); // it follows the old conversation
        attempt = -1;
        continue;
      }
      if (!response || response.status >= 500) {
        trouble.send = true;
        render();
        const hint = response && Number(response.headers.get("Retry-After"));
        await sleep(hint > 0 ? Math.min(hint, 30) * 1000 : Math.min(1000 * 2 ** attempt, 15000));
        continue;
      }
      trouble.send = false;
      const answer = await response.json().catch(() => null);
      return finish(message, response.ok ? answer : null, response.ok ? null : errorText(answer));
    }
  }

  function finish(message, answer, error) {
    trouble.send = false;
    if (message.first) starting = false;
    update((state) => {
      const mine = state.messages.find((m) => m.mid === message.mid);
      if (mine) delete mine.state;
      if (message.first && !error) state.started = true;
    });
    if (error) addNote(error);
    else if (answer && answer.replies && answer.replies.length) addBot(answer.replies);
  }

  // --- the event stream (staff replies) -------------------------------------------
  // Read with fetch, so the token travels in a header rather than in a URL. After a
  // break it asks for what came after the last event it showed (Last-Event-ID).

  let streaming = false;
  let stopStream = null;
  async function connect() {
    if (streaming || !memory.token) return;
    streaming = true;
    let failures = 0;
    while (memory.token) {
      const controller = new AbortController();
      stopStream = () => controller.abort();
      try {
        const headers = { Authorization: "Bearer " + memory.token };
        if (memory.lastEvent) headers["Last-Event-ID"] = memory.lastEvent;
        const response = await fetch(BOT + "/api/chat/events", { headers, signal: controller.signal, credentials: "omit", cache: "no-store" });
        if (response.status === 401) break; // the next message renews the session
        if (!response.ok || !response.body) throw new Error("stream " + response.status);
        failures = 0;
        if (trouble.stream) { trouble.stream = false; render(); }
        await readEvents(response.body.getReader());
      } catch (e) {
        if (!controller.signal.aborted) failures += 1;
        if (failures > 1 && !trouble.stream) { trouble.stream = true; render(); }
      }
      if (!controller.signal.aborted) await sleep(Math.min(2000 * 2 ** Math.max(0, failures - 1), 30000));
    }
    streaming = false;
  }

  async function readEvents(reader) {
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let id = "";
        let payload = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("id:")) id = line.slice(3).trim();
          else if (line.startsWith("data:")) payload += line.slice(5).replace(/^ /, "");
        }
        if (!payload || !id) continue;
        let replies;
        try { replies = JSON.parse(payload).replies; } catch (e) { continue; }
        if (Array.isArray(replies)) addBot(replies, id);
      }
    }
  }

  // --- start --------------------------------------------------------------------

  window.addEventListener("storage", (event) => {
    if (event.key === KEY) { load(); render(); }
  });
  window.OrderHelp = { open: () => setOpen(true, true), close: () => setOpen(false, false) };

  function mount() {
    document.body.append(host);
    load();
    render();
    if (memory.token) connect();
    // A message that was still on its way when the last page closed goes again,
    // with its id: if the server had it, it answers with its first answer.
    for (const m of memory.messages) if (m.state === "sending" && m.mid && m.body) enqueue(m);
    // An upload cut off by the page closing cannot resume: its file is gone.
    if (memory.messages.some((m) => m.state === "uploading")) {
      update((state) => { for (const m of state.messages) if (m.state === "uploading") { m.state = undefined; m.failed = true; } });
    }
    if (memory.open && !memory.started) start();
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();

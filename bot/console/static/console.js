// Firstline console: live fragments, the reply character counter, canned replies.
// Everything here is an enhancement: without JavaScript the forms still post and pages reload.
"use strict";

const POLL_MS = 2000;
const URL_PATTERN = /https?:\/\/\S+|\bwww\.\S+/gi;

// How long a text is in a platform's own counting (the server checks again with the same rules).
function xWeight(ch) {
  const code = ch.codePointAt(0);
  if (/\p{Mn}|\p{Me}/u.test(ch)) return 0;
  const light = code <= 0x10ff || (code >= 0x2000 && code <= 0x200d) ||
    (code >= 0x2010 && code <= 0x201f) || (code >= 0x2032 && code <= 0x2037);
  return light ? 1 : 2;
}

function measure(text, platform) {
  if (platform === "x") {
    let total = 0;
    const rest = text.replace(URL_PATTERN, () => { total += 23; return ""; });
    for (const ch of rest) total += xWeight(ch);
    return total;
  }
  if (platform === "telegram") return text.length; // UTF-16 code units, as Telegram counts
  return [...text].length;
}

function setUpReply(form) {
  const text = form.querySelector("textarea[name=text]");
  const counter = form.querySelector("#counter");
  const send = form.querySelector("button[type=submit]");
  const update = () => {
    const where = form.querySelector("input[name=conversation_id]:checked");
    if (!where) return;
    const limit = Number(where.dataset.limit);
    const used = measure(text.value, where.dataset.platform);
    counter.textContent = `${used} / ${limit}`;
    counter.classList.toggle("over", used > limit);
    send.disabled = used > limit || text.value.trim() === "";
  };
  form.addEventListener("input", update);
  form.addEventListener("change", update);
  const canned = form.querySelector("select[data-canned]");
  if (canned) {
    canned.addEventListener("change", () => {
      if (!canned.value) return;
      text.value = text.value.trim() ? `${text.value.trimEnd()} ${canned.value}` : canned.value;
      canned.value = "";
      update();
      text.focus();
    });
  }
  update();
}

// Times arrive in UTC (the server cannot know where the reader sits) and are shown here in the
// reader's own time zone and locale; the tooltip gives the full date with the zone's name.
const TIME_STYLES = {
  datetime: { dateStyle: "medium", timeStyle: "short" },
  seconds: { dateStyle: "medium", timeStyle: "medium" },
  time: { timeStyle: "short" },
};
const FULL_TIME = { dateStyle: "full", timeStyle: "long" };

function formatTime(at, options) {
  return new Intl.DateTimeFormat(undefined, options).format(at);
}

function localiseTimes(root) {
  for (const element of root.querySelectorAll("time[datetime]")) {
    const at = new Date(element.dateTime);
    if (Number.isNaN(at.getTime())) continue;
    element.textContent = formatTime(at, TIME_STYLES[element.dataset.style] || TIME_STYLES.datetime);
    element.title = formatTime(at, FULL_TIME);
  }
  for (const element of root.querySelectorAll("[data-title-at]")) {
    const at = new Date(element.dataset.titleAt);
    if (Number.isNaN(at.getTime())) continue;
    const prefix = element.dataset.titlePrefix ? `${element.dataset.titlePrefix} ` : "";
    element.title = prefix + formatTime(at, TIME_STYLES.datetime);
  }
}

async function poll(url, apply) {
  try {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html, application/json" } });
    if (response.status === 401 || response.redirected) { window.location.reload(); return; }
    if (response.ok) apply(response);
  } catch (error) {
    // A missed poll is not worth a message: the next one comes in two seconds.
  }
}

function replaceIfChanged(element, html) {
  if (!element || element.dataset.html === html) return;
  if (element.contains(document.activeElement) && document.activeElement !== document.body) return;
  element.innerHTML = html;
  element.dataset.html = html;
  localiseTimes(element);
}

function startQueue(table) {
  const rows = document.getElementById("queue-rows");
  rows.dataset.html = rows.innerHTML;
  setInterval(() => poll(table.dataset.live, async (r) => replaceIfChanged(rows, await r.text())), POLL_MS);
}

function startCase(root) {
  const timeline = document.getElementById("timeline");
  const state = document.getElementById("case-state");
  setInterval(() => poll(root.dataset.live, async (r) => {
    const parts = await r.json();
    replaceIfChanged(timeline, parts.timeline);
    replaceIfChanged(state, parts.state);
    replaceIfChanged(document.getElementById("followups"), parts.followups);
  }), POLL_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  localiseTimes(document);
  const reply = document.querySelector("form.reply");
  if (reply) setUpReply(reply);
  const queue = document.querySelector("table.queue[data-live]");
  if (queue) startQueue(queue);
  const caseRoot = document.querySelector(".case[data-live]");
  if (caseRoot) startCase(caseRoot);
});

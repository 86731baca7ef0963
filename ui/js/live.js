// live.js - the page's link to kimchid's event stream (GET /plugins/kimchi/events): guests and
// tasks change on the page as they change on the host, with no polling. The browser's
// EventSource reconnects by itself and sends the last event id it saw, so nothing that
// happened meanwhile is lost; when kimchid refuses the stream (a 401 after the session ended,
// a restart), a new one is opened a little later. The page learns when it is up and when
// it went down through the handlers.
const EVENTS = '/plugins/kimchi/events';
const REOPEN_MS = 2000;

let source = null;
let handlers = null;
let up = false;
let reopen = null;

export const streamUp = () => up;

function parse(ev) {
  try {
    return JSON.parse(ev.data);
  } catch {
    return null;
  }
}

function open() {
  clearTimeout(reopen);
  source?.close();
  const s = new EventSource(EVENTS);
  source = s;
  s.addEventListener('ready', (ev) => {
    up = true;
    handlers.ready(parse(ev)?.reload !== false);
  });
  s.addEventListener('vm', (ev) => parse(ev) && handlers.vm(parse(ev)));
  s.addEventListener('task', (ev) => parse(ev) && handlers.task(parse(ev)));
  // kimchid ended this stream for good (the user opened too many, or the account changed):
  // reconnecting would only close another page's, so the page stays without it
  s.addEventListener('closed', (ev) => {
    s.close();
    if (s !== source) return;
    source = null;
    up = false;
    handlers.closed?.(parse(ev)?.message ?? 'kimchid closed the live connection.');
  });
  s.onerror = () => {
    if (s !== source) return;
    if (up) {
      up = false;
      handlers.down();
    }
    if (s.readyState === EventSource.CLOSED) reopen = setTimeout(open, REOPEN_MS);
  };
}

// handlers: { ready(reload), vm(change), task(task), down(), closed(message) }
export function startLive(h) {
  handlers = h;
  open();
}

export function stopLive() {
  clearTimeout(reopen);
  source?.close();
  source = null;
  up = false;
}

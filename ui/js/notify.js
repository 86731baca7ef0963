// notify.js - notifications: successes fade after a while, failures stay until dismissed.
const SUCCESS_MS = 15000;

export function notify(text, { error = false } = {}) {
  const box = document.getElementById('notifications');
  const note = document.createElement('div');
  note.className = error ? 'note error' : 'note success';
  note.setAttribute('role', error ? 'alert' : 'status');
  const span = document.createElement('span');
  span.className = 'text';
  span.textContent = text;
  const close = document.createElement('button');
  close.type = 'button';
  close.textContent = '×';
  close.setAttribute('aria-label', 'Dismiss');
  close.addEventListener('click', () => note.remove());
  note.append(span, close);
  box.append(note);
  if (!error) setTimeout(() => note.remove(), SUCCESS_MS);
  return note;
}

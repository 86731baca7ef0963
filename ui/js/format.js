// format.js - numbers for people.
export function mib(n) {
  return n >= 1024 && n % 1024 === 0 ? `${n / 1024} GiB` : `${n} MiB`;
}

export function rate(bytesPerSecond) {
  if (bytesPerSecond == null) return null;
  const m = bytesPerSecond / 1048576;
  return m >= 10 ? `${m.toFixed(0)} MiB/s` : `${m.toFixed(1)} MiB/s`;
}

// Kimchi's throughput figures are KB/s (1000 bytes).
export function kbps(kb) {
  const n = Number(kb) || 0;
  if (n >= 1000) return `${(n / 1000).toFixed(n >= 10000 ? 0 : 1)} MB/s`;
  return `${n.toFixed(n >= 10 ? 0 : 1)} KB/s`;
}

export function duration(ms) {
  if (ms == null) return null;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

// "27% · 4.0 MiB/s · guest writes 1.2 MiB/s · 12 s left", and for a busy guest why it is slow:
// "61% · 20 MiB/s · not converging: the guest writes 48 MiB/s · pass 7"
export function progressLine(p) {
  const parts = [`${p?.percent ?? 0}%`];
  const r = rate(p?.memory_bps);
  if (r) parts.push(r);
  if (p?.converging === false) {
    parts.push(`not converging: the guest writes ${rate(p.dirty_bps) ?? 'memory'} faster than it moves`);
  } else {
    // what the guest dirties against what the link carries: why a move is slow, if it is
    if (p?.dirty_bps > 0) parts.push(`guest writes ${rate(p.dirty_bps)}`);
    const left = duration(p?.remaining_ms);
    if (left) parts.push(`${left} left`);
  }
  if (p?.throttle_percent > 0) parts.push(`guest slowed ${p.throttle_percent}% to converge`);
  if (p?.iteration > 1) parts.push(`pass ${p.iteration}`);
  return parts.join(' · ');
}

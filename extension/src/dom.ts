/** Small DOM helpers: the panel renders plain elements (no framework). */

type Child = Node | string | null | undefined | false;

export function h(
  tag: string,
  attrs: Record<string, string | undefined> = {},
  ...children: (Child | Child[])[]
): HTMLElement {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined) {
      node.setAttribute(key, value);
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    node.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

export function button(label: string, title: string, onClick: () => void, cls = ''): HTMLElement {
  const node = h('button', { class: `jp-mod-styled mlops-button ${cls}`.trim(), title }, label);
  node.addEventListener('click', event => {
    event.preventDefault();
    onClick();
  });
  return node;
}

export function table(columns: string[], rows: Child[][], cls = ''): HTMLElement {
  return h(
    'table',
    { class: `mlops-table ${cls}`.trim() },
    h('thead', {}, h('tr', {}, columns.map(c => h('th', {}, c)))),
    h('tbody', {}, rows.map(r => h('tr', {}, r.map(cell => h('td', {}, cell)))))
  );
}

export function age(seconds: number): string {
  const delta = Math.max(0, Date.now() / 1000 - seconds);
  if (delta < 60) {
    return `${Math.round(delta)} s ago`;
  }
  if (delta < 3600) {
    return `${Math.round(delta / 60)} min ago`;
  }
  if (delta < 86400) {
    return `${Math.round(delta / 3600)} h ago`;
  }
  return new Date(seconds * 1000).toLocaleString();
}

/** Local time of day (a date too when not today): tells apart rows started minutes apart. */
export function clock(seconds: number): string {
  const when = new Date(seconds * 1000);
  const time = when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return when.toDateString() === new Date().toDateString() ? time : `${when.toLocaleDateString()} ${time}`;
}

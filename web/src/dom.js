// DOM building without HTML strings: task prompts and responses are untrusted text, so every
// piece of text goes in as a text node and no markup is ever parsed from data. It also keeps
// the page within its Content-Security-Policy (no inline styles or scripts).

const SVG_NS = 'http://www.w3.org/2000/svg';

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function assign(node, attrs) {
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      node.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === 'dataset') {
      Object.assign(node.dataset, value);
    } else if (name === 'value' && 'value' in node) {
      node.value = value;
    } else if (name === 'checked' || name === 'selected' || name === 'disabled') {
      node[name] = Boolean(value);
    } else {
      node.setAttribute(name, value === true ? '' : String(value));
    }
  }
}

/** An HTML element: `h('button', {class: 'primary', onclick}, 'Join')`. */
export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  assign(node, attrs);
  append(node, children);
  return node;
}

/** An SVG element, for the dashboard's plots. */
export function s(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  assign(node, attrs);
  append(node, children);
  return node;
}

/** Replaces a node's children. */
export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
}

/** A short form of an address or hash: 0x1234…abcd. */
export function short(hex) {
  return hex && hex.length > 12 ? `${hex.slice(0, 6)}…${hex.slice(-4)}` : hex;
}

/** Base units as a grouped decimal: 1,000,000. Amounts are decimal strings or bigints and never
 * pass through floating point. */
export function amount(value) {
  const digits = BigInt(value ?? 0).toString();
  const negative = digits.startsWith('-');
  const bare = negative ? digits.slice(1) : digits;
  const grouped = bare.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return negative ? `−${grouped}` : grouped;
}

/** A unix time as local date and time. */
export function when(seconds) {
  return new Date(Number(seconds) * 1000).toLocaleString(undefined, {
    year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
  });
}

/** A duration in words: "3 h 20 min". */
export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours} h ${m % 60} min`;
  return `${Math.floor(hours / 24)} days`;
}

/** A fixed-point score (scale 10^6) as a decimal with three places. */
export function score(value) {
  if (value === null || value === undefined) return '—';
  return (Number(value) / 1e6).toFixed(3);
}

/** Renders the small markdown subset instructions use (paragraphs, `-` lists, **bold**,
 * *italic*, `code`) as DOM nodes, never as parsed HTML. */
export function markdown(text) {
  const blocks = String(text ?? '').split(/\n{2,}/);
  const inline = line => {
    const out = [];
    const pattern = /(\*\*[^*]+\*\*|\*[^*]+\*|`[^`]+`)/g;
    let last = 0;
    for (const match of line.matchAll(pattern)) {
      out.push(line.slice(last, match.index));
      const token = match[0];
      if (token.startsWith('**')) out.push(h('strong', null, token.slice(2, -2)));
      else if (token.startsWith('`')) out.push(h('code', null, token.slice(1, -1)));
      else out.push(h('em', null, token.slice(1, -1)));
      last = match.index + token.length;
    }
    out.push(line.slice(last));
    return out;
  };
  return blocks.filter(b => b.trim() !== '').map(block => {
    const lines = block.split('\n');
    if (lines.every(l => /^\s*[-*] /.test(l))) {
      return h('ul', null, lines.map(l => h('li', null, inline(l.replace(/^\s*[-*] /, '')))));
    }
    if (/^#{1,3} /.test(lines[0])) {
      return h('h4', null, inline(lines[0].replace(/^#{1,3} /, '')), lines.slice(1).join(' '));
    }
    return h('p', null, inline(lines.join(' ')));
  });
}

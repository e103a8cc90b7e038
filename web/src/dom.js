// DOM building without HTML strings: task prompts and responses are untrusted text, so every
// piece of text goes in as a text node and no markup is ever parsed from data, but for the
// markdown of instructions and explanations, which markdown-it renders with raw HTML off. It
// also keeps the page within its Content-Security-Policy (no inline styles or scripts).

import MarkdownIt from 'markdown-it';

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

/** A unix time as local month, day and time, for tables whose rows are all in one year or so. */
export function shortWhen(seconds) {
  return new Date(Number(seconds) * 1000).toLocaleString(undefined, {
    month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
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

// CommonMark by markdown-it, with raw HTML off (it is shown as text) and links checked by its
// own rules (no `javascript:` and the like); images are off too, so guidelines cannot make a
// labeler's browser fetch from elsewhere. Links open in a new tab that gets no handle on this one.
const commonMark = new MarkdownIt({ html: false, linkify: true }).disable('image');
commonMark.renderer.rules.link_open = (tokens, i, options, env, self) => {
  tokens[i].attrSet('target', '_blank');
  tokens[i].attrSet('rel', 'noopener noreferrer');
  return self.renderToken(tokens, i, options);
};

/** Renders instructions, guidelines and explanations written in markdown as DOM nodes. */
export function markdown(text) {
  const template = document.createElement('template');
  template.innerHTML = commonMark.render(String(text ?? ''));
  return [...template.content.childNodes];
}

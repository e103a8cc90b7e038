// The keyboard shortcuts, in a modal dialog that `?` opens anywhere and Escape closes.

import { h } from '../dom.js';

export const SHORTCUTS = [
  ['Labeling', [
    ['1 … 9', 'choose an answer on the scale (pairwise strength, rating, option); in a tournament, 1 is the left response and 2 the right'],
    ['← →', 'move the choice along the scale; in a tournament, pick the left or the right response'],
    ['Enter', 'next task (or confirm a ranking); on the last task, review the batch'],
    ['Shift + Enter', 'previous task'],
    ['↑ ↓', 'in a ranking, move between responses; with Alt, move the response up or down'],
    ['u', 'in a tournament, take back the last comparison'],
    ['r', 'write a rationale (Escape leaves the text box, Ctrl + Enter goes on to the next task)'],
    ['i', 'show or hide the instructions'],
  ]],
  ['Practice', [
    ['1 … 9, ← →', 'choose an answer, as in labeling (and the ranking keys for rankings)'],
    ['Enter', 'check your answer (each practice task is answered once); after the verdict, the next task'],
    ['i', 'show or hide the instructions'],
  ]],
  ['Everywhere', [
    ['Tab / Shift + Tab', 'move between controls; Enter or Space presses the focused button'],
    ['?', 'this list'],
    ['Escape', 'close this list'],
  ]],
];

export function shortcutsDialog() {
  const dialog = h('dialog', { class: 'help', 'aria-labelledby': 'help-title' },
    h('h2', { id: 'help-title' }, 'Keyboard shortcuts'),
    SHORTCUTS.map(([group, rows]) => [
      h('h3', null, group),
      h('dl', null, rows.map(([keys, what]) => [h('dt', null, h('kbd', null, keys)), h('dd', null, what)])),
    ]),
    h('form', { method: 'dialog' }, h('button', { class: 'primary', 'data-close': '' }, 'Close')));
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  dialog.querySelector('[data-close]').focus();
}

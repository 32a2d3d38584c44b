// Rendering of result tables: aligned plain text for the terminal and GitHub
// markdown for the README. Both take the same rows so they cannot disagree.

export type Align = 'l' | 'r';

export interface Table {
  header: string[];
  rows: string[][];
  align: Align[];
}

export function renderText(t: Table): string {
  const widths = t.header.map((h, i) => Math.max(h.length, ...t.rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (t.align[i] === 'r' ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(t.header), rule, ...t.rows.map(line)].join('\n');
}

function mdCell(c: string): string {
  // A pipe inside a cell would split it; backslash-escape it.
  return c.replace(/\|/g, '\\|');
}

export function renderMarkdown(t: Table): string {
  const sep = t.align.map((a) => (a === 'r' ? '---:' : '---'));
  const row = (cells: string[]): string => `| ${cells.map(mdCell).join(' | ')} |`;
  return [row(t.header), `|${sep.join('|')}|`, ...t.rows.map(row)].join('\n');
}

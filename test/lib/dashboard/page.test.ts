/** The dashboard page as served: self-contained, its policy allowing exactly its own script and style. */
import { createHash } from 'node:crypto';
import { HttpRequest, InvocationContext } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { dashboard } from '../../../src/functions/dashboard.js';
import { DASHBOARD_HEADERS, DASHBOARD_HTML } from '../../../src/lib/dashboard/page.js';

const between = (open: string, close: string) => {
  const start = DASHBOARD_HTML.indexOf(open) + open.length;
  return DASHBOARD_HTML.slice(start, DASHBOARD_HTML.indexOf(close, start));
};
const hash = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

describe('the dashboard page', () => {
  it('loads nothing from elsewhere: no external script, style, font or image', () => {
    const urls = DASHBOARD_HTML.match(/https?:\/\/[^\s'"`)]+/g) ?? [];
    expect(new Set(urls)).toEqual(new Set(['http://www.w3.org/2000/svg']));
    expect(DASHBOARD_HTML).not.toMatch(/<script[^>]+src=|<link[^>]+stylesheet|@import|url\(/);
  });

  it('allows by hash exactly its one inline script and one style, and requests only to its own origin', () => {
    const csp = DASHBOARD_HEADERS['content-security-policy']!;
    expect(csp).toContain(`script-src ${hash(between('<script>', '</script>'))};`);
    expect(csp).toContain(`style-src ${hash(between('<style>', '</style>'))};`);
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/connect-src 'self'/);
    expect(DASHBOARD_HTML.match(/<script/g)).toHaveLength(1);
    expect(DASHBOARD_HTML).not.toMatch(/ style="/);
  });

  it('has a script that parses, polling the data route next to the page and passing a function key on', () => {
    const script = between('<script>', '</script>');
    // Compiles only; running it needs a DOM (the browser test does that).
    expect(() => new Function(script)).not.toThrow();
    expect(script).toContain(".replace(/\\/?$/, '/data')");
    expect(script).toContain("encodeURIComponent(code)");
  });

  it('is served as HTML that is never cached', async () => {
    const response = await dashboard(new HttpRequest({ method: 'GET', url: 'http://localhost/api/dashboard' }), new InvocationContext({ functionName: 'dashboard' }));
    expect(response.status).toBe(200);
    expect(response.body).toBe(DASHBOARD_HTML);
    expect(response.headers).toMatchObject({ 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' });
  });
});

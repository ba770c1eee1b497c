/**
 * `GET /api/dashboard`: the live dashboard page (self-contained HTML, SVG charts). It polls
 * `GET /api/dashboard/data` (dashboardData.ts) and keeps the history itself.
 */
import { app, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { DASHBOARD_HEADERS, DASHBOARD_HTML } from '../lib/dashboard/page.js';

export async function dashboard(_request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  return { status: 200, headers: { ...DASHBOARD_HEADERS }, body: DASHBOARD_HTML };
}

app.http('dashboard', { methods: ['GET'], route: 'dashboard', authLevel: 'function', handler: dashboard });

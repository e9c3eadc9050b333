/** Headless Chromium (Debian's `chromium`) driven by playwright-core, for the server's page. */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { IN_CI, type Availability } from './shared-data.js';

export const CHROMIUM = '/usr/bin/chromium';

export function chromiumAvailability(): Availability {
  if (existsSync(CHROMIUM)) return { available: true, reason: '', path: CHROMIUM };
  const reason = `${CHROMIUM} not found (Debian package chromium; .ci/run installs it)`;
  if (IN_CI) throw new Error(`CI=true but ${reason}`);
  return { available: false, reason, path: CHROMIUM };
}

/** A fresh browser profile each time, nothing reaching out to the network. */
export async function launchChromium(): Promise<BrowserContext> {
  const profile = mkdtempSync(join(tmpdir(), 'sd-mali-chromium-'));
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1100, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

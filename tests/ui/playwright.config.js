// Browser tests of the mlops-lab extension, run by tests/ui/test_browser.py, which starts
// ONE JupyterLab server on a fixture project for the whole run and passes its address and
// token here through MLOPS_UI_URL / MLOPS_UI_TOKEN. Headless Chromium from the distribution
// (scripts/install-browser.sh): Playwright's own browser download is not used.
const base = require('@jupyterlab/galata/lib/playwright-config');
const path = require('path');

const url = process.env.MLOPS_UI_URL;
const token = process.env.MLOPS_UI_TOKEN;
if (!url || !token) {
  throw new Error('run the browser tests through pytest tests/ui (it starts the Jupyter server)');
}
const artifacts = process.env.MLOPS_UI_ARTIFACTS || path.resolve(__dirname, '../../test-artifacts/ui');

module.exports = {
  ...base,
  testDir: './specs',
  outputDir: path.join(artifacts, 'results'),
  timeout: 120000,
  expect: { timeout: 20000 },
  workers: 1,
  retries: 0,
  fullyParallel: false,
  reporter: [['list'], ['json', { outputFile: path.join(artifacts, 'report.json') }]],
  use: {
    ...base.use,
    baseURL: url,
    extraHTTPHeaders: { Authorization: `token ${token}` },
    browserName: 'chromium',
    viewport: { width: 1280, height: 800 },
    video: 'off',
    trace: 'off',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.MLOPS_UI_CHROMIUM || '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync'
      ]
    }
  }
};

"""Browser tests: the official frontend and JupyterLab driven by Debian's chromium via Playwright."""

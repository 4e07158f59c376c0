"""Fixtures of the playground tests: the four small models served by our server, the playground
proxy in front of it (standing in for a TF Serving), and headless Chromium (Debian's `chromium`)
driven by Playwright, which fails a test whose page requested anything outside its origin."""

import os
import shutil

import pytest

from tests.serving.playground import models

CHROMIUM = os.environ.get("PLAYGROUND_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def playground_models(tmp_path_factory):
    """The four models exported into a fresh folder (or, to iterate quickly on the page, the
    folder named by PLAYGROUND_SAVED_MODELS, exported once by tests.serving.playground.models)."""
    if os.environ.get("PLAYGROUND_SAVED_MODELS"):
        return os.environ["PLAYGROUND_SAVED_MODELS"]
    root = tmp_path_factory.mktemp("playground_models")
    models.export_all(str(root))
    return root


@pytest.fixture(scope="module")
def model_server(playground_models):
    from kerasnlp_lab.serving.server import ModelServer

    server = ModelServer(playground_models, rest_port=0, grpc_port=0)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy(model_server):
    from kerasnlp_lab.serving.playground import ProxyServer

    server = ProxyServer(f"http://127.0.0.1:{model_server.rest_port}", port=0)
    server.start()
    yield server
    server.stop()


# Module scope: Playwright's sync API runs an event loop in this thread until it closes, and
# later tests of the session call asyncio.run.
@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (the dev extra)")
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        pytest.skip(f"no Chromium at {CHROMIUM} (make setup installs Debian's chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


class Session:
    """A browser page on one origin: `outside` lists every request it made elsewhere (each one
    is aborted), `errors` the page's uncaught errors and console errors."""

    def __init__(self, browser, origin: str, width: int = 1200):
        self.origin = origin
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.outside: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on(
            "console",
            lambda message: self.errors.append(message.text) if message.type == "error" else None,
        )

    def _route(self, route):
        url = route.request.url
        if url == self.origin or url.startswith(self.origin + "/"):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def open(self, panel: str = "translate"):
        response = self.page.goto(f"{self.origin}/playground/#{panel}")
        self.page.wait_for_selector("body[data-ready='true']")
        return response

    def close(self):
        self.context.close()


@pytest.fixture
def session_for(browser):
    """session_for(port) -> a Session on http://127.0.0.1:port; checked for outside requests and
    page errors when the test ends."""
    sessions = []

    def make(port: int) -> Session:
        session = Session(browser, f"http://127.0.0.1:{port}")
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        session.close()
    for session in sessions:
        assert session.outside == [], f"requests outside {session.origin}: {session.outside}"
        assert session.errors == [], f"page errors: {session.errors}"

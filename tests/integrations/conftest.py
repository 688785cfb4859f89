import pytest

from tests.integrations.receiver import start_receiver


@pytest.fixture(scope="session")
def _receiver_server():
    server, receiver = start_receiver()
    yield receiver
    server.shutdown()


@pytest.fixture
def receiver(_receiver_server, app, monkeypatch):
    """The loopback receiver, emptied; a short timeout so a receiver that hangs fails fast."""
    _receiver_server.clear()
    monkeypatch.setitem(app.config, "WEBHOOK_TIMEOUT_SECONDS", 1)
    _receiver_server.hang_seconds = 2.5
    yield _receiver_server
    _receiver_server.clear()

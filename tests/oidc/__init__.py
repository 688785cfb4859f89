"""A real OpenID Connect provider for the sign-in tests: the certified `oidc-provider` package from
the npm registry, run with the machine's Node.js (see provider.mjs).

`npm ci` installs it into tests/oidc/node_modules once (scripts/test-services does, and so does
`installed()` when it is missing); after that the tests need no network.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from joserfc.jwk import RSAKey

HERE = Path(__file__).resolve().parent
START_SECONDS = 20


def installed() -> str:
    """The path of node, once oidc-provider is installed; installs it (npm ci) when it is missing."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("The sign-in tests need Node.js (apt-get install nodejs npm)")
    if not (HERE / "node_modules" / "oidc-provider" / "package.json").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=HERE, check=True, timeout=300
        )
    return node


def new_key(kid: str) -> dict:
    key = RSAKey.generate_key(2048, private=True).as_dict(private=True)
    return {**key, "kid": kid, "use": "sig", "alg": "RS256"}


@dataclass
class Client:
    client_id: str
    redirect_uri: str
    mode: str = ""
    client_secret: str = "test-client-secret"


@dataclass
class OidcProvider:
    """One provider process on `port`; `rotate_keys()` starts it again signing with a new key."""

    port: int
    clients: list[Client] = field(default_factory=list)
    keys: list[dict] = field(default_factory=lambda: [new_key("first-key")])
    unknown_key: dict = field(default_factory=lambda: new_key("never-published"))
    process: subprocess.Popen | None = None

    @property
    def issuer(self) -> str:
        return f"http://localhost:{self.port}"

    def start(self) -> None:
        node = installed()
        self._config = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)  # noqa: SIM115
        json.dump(
            {
                "port": self.port,
                "issuer": self.issuer,
                "clients": [
                    {
                        "client_id": c.client_id,
                        "client_secret": c.client_secret,
                        "redirect_uris": [c.redirect_uri],
                        "mode": c.mode,
                    }
                    for c in self.clients
                ],
                "keys": self.keys,
                "unknown_key": self.unknown_key,
            },
            self._config,
        )
        self._config.close()
        self.process = subprocess.Popen(
            [node, str(HERE / "provider.mjs"), self._config.name],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        deadline = time.monotonic() + START_SECONDS
        line = self.process.stdout.readline()
        if not line.startswith("ready") or time.monotonic() > deadline:
            self.stop()
            raise RuntimeError(f"the OpenID Connect provider did not start: {line!r}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None
        if getattr(self, "_config", None) is not None:
            Path(self._config.name).unlink(missing_ok=True)
            self._config = None

    def rotate_keys(self) -> None:
        """Sign with a new key, and publish only it, as a provider does once the old one is retired."""
        self.stop()
        self.keys = [new_key(f"key-{int(time.time() * 1000)}")]
        self.start()

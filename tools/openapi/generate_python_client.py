"""Generate the gateway's Python client with openapi-python-client and Kefu's templates
(tools/openapi/python-client-templates: every operation module also types the response headers
it declares, `TypedResponse.typed_headers`; docs/gateway.md).

    python tools/openapi/generate_python_client.py [--spec openapi.json|URL] [--output DIR]

`--spec` is a file or a URL (a running gateway's `/openapi.json`). Without it the document is the app's own (`create_app().openapi()`, no server needed): the
same document `/openapi.json` serves. `make python-client` runs this into .kefu/python-client.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "python-client-templates"
# The generator's default post-hooks less `ruff check --fix-only`: ruff 0.17's default rules
# rewrite `*args: Any` into `*args: object` in client.py, which mypy --strict then refuses.
# Formatting only, with the ruff of this interpreter's environment.
CONFIG = "post_hooks:\n  - ruff format .\n"


def app_document() -> dict[str, object]:
    from kefu_gateway.app import create_app
    from kefu_gateway.settings import GatewaySettings

    return create_app(GatewaySettings(), configure_logs=False).openapi()


def generate(spec: Path | str, output: Path) -> subprocess.CompletedProcess[str]:
    """Run the generator (warnings are failures) on a file or URL into `output` (the package directory)."""
    source = ["--url", spec] if str(spec).startswith(("http://", "https://")) else ["--path", str(spec)]
    with tempfile.TemporaryDirectory() as work:
        config = Path(work) / "generator.yaml"
        config.write_text(CONFIG)
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        return subprocess.run(
            [sys.executable, "-m", "openapi_python_client", "generate", *source, "--meta", "none",
             "--output-path", str(output), "--config", str(config), "--overwrite", "--fail-on-warning",
             "--custom-template-path", str(TEMPLATES)],
            capture_output=True, text=True, timeout=300, env=env,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", help="an OpenAPI document, file or URL (default: the app's own)")
    parser.add_argument("--output", type=Path, default=Path(".kefu/python-client/kefu_client"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        spec = args.spec
        if spec is None:
            spec = Path(work) / "openapi.json"
            spec.write_text(json.dumps(app_document(), ensure_ascii=False))
        done = generate(spec, args.output)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())

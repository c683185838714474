"""The explorer as a standalone page for teaching: Voila runs ``app.ipynb`` (next to this file),
which builds a :class:`~hmxai.ui.explorer.RateExplorer` from ``HMXAI_APP_*`` environment variables
set by ``hmxai app``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

from hmxai.errors import InvalidArgumentError

NOTEBOOK = Path(__file__).with_name("app.ipynb")
#: a Jupyter data folder holding hmxai's Voila template (``voila/templates/hmxai``: the lab template
#: without its CDN stylesheets, so the page requests nothing outside this machine)
TEMPLATES = Path(__file__).parent

#: environment variables the app notebook reads, and the ``hmxai app`` options that set them
SETTINGS = ("image", "codec", "quality", "method", "max_side")


def explorer_from_env(environ=os.environ):
    """The app's explorer, configured by ``HMXAI_APP_IMAGE`` (path or sample name; default ``chelsea``),
    ``HMXAI_APP_CODEC``, ``HMXAI_APP_QUALITY``, ``HMXAI_APP_METHOD`` and ``HMXAI_APP_MAX_SIDE`` (default 384)."""
    from hmxai.images import fit_within, load_image
    from hmxai.samples import SAMPLES, sample_image
    from hmxai.ui.explorer import RateExplorer
    from hmxai.explore.engine import quality_value

    get = lambda key: environ.get(f"HMXAI_APP_{key.upper()}") or None  # noqa: E731
    image = get("image") or "chelsea"
    x = sample_image(image) if image in SAMPLES else load_image(image)
    x = fit_within(x, int(get("max_side") or 384))
    quality = get("quality")
    return RateExplorer(x, codec=get("codec"), quality=None if quality is None else quality_value(quality),
                        method=get("method") or "grad-cam")


def voila_command(port: int = 8866, ip: str = "127.0.0.1", open_browser: bool = True) -> List[str]:
    """The Voila command line that serves the app notebook."""
    cmd = [sys.executable, "-m", "voila", str(NOTEBOOK), f"--port={port}", f"--Voila.ip={ip}",
           "--theme=light", "--show_tracebacks=True", "--template=hmxai"]
    if not open_browser:
        cmd.append("--no-browser")
    return cmd


def app_environment(settings: Dict[str, object], base=os.environ) -> Dict[str, str]:
    """``base`` plus ``HMXAI_APP_*`` for every setting given (others removed, so no stale value leaks in)."""
    env = {k: v for k, v in base.items() if not k.startswith("HMXAI_APP_")}
    env["JUPYTER_PATH"] = os.pathsep.join([str(TEMPLATES)] + [p for p in base.get("JUPYTER_PATH", "").split(os.pathsep) if p])
    for key, value in settings.items():
        if key not in SETTINGS:
            raise InvalidArgumentError(f"unknown app setting {key!r}; known: {', '.join(SETTINGS)}")
        if value is not None:
            env[f"HMXAI_APP_{key.upper()}"] = str(value)
    return env


def run_app(settings: Dict[str, object], port: int = 8866, ip: str = "127.0.0.1", open_browser: bool = True) -> int:
    """Serve the explorer with Voila until interrupted; returns Voila's exit status."""
    try:
        import voila  # noqa: F401
    except ImportError as exc:  # pragma: no cover - voila is a dependency
        raise RuntimeError("the app needs Voila: pip install voila") from exc
    import signal

    proc = subprocess.Popen(voila_command(port, ip, open_browser), env=app_environment(settings))
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        return proc.wait()
    except KeyboardInterrupt:
        return 130
    finally:  # Ctrl-C or a terminated ``hmxai app`` takes Voila and its kernel down with it
        signal.signal(signal.SIGTERM, previous)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
